"""The SynthBench vocabulary: classes, colours, patterns, materials, backgrounds and companions.

Everything a caption or a prompt can name lives here, once, so that renderer, captioner, prompt templates and
ground-truth probes agree on the same words.
"""

from __future__ import annotations

# Object nouns. Each has a signed-distance silhouette in `world.shapes`.
CLASSES: tuple[str, ...] = ("mug", "ball", "vase", "box", "lamp", "bottle", "teapot", "chair")

# Colour names and the hue (in turns, 0..1) at the centre of each name's band. A subject's exact hue is continuous
# within its band, so two "red mugs" still differ.
COLOURS: dict[str, float] = {
    "red": 0.0,
    "orange": 0.08,
    "yellow": 0.15,
    "green": 0.32,
    "teal": 0.47,
    "blue": 0.60,
    "purple": 0.76,
    "pink": 0.90,
}

PATTERNS: tuple[str, ...] = ("solid", "stripes", "dots", "checker", "rings")
# Adjectives used in captions and prompts for each pattern ("solid" is never said).
PATTERN_WORDS: dict[str, str] = {
    "solid": "plain",
    "stripes": "striped",
    "dots": "polka dot",
    "checker": "checkered",
    "rings": "ringed",
}

MATERIALS: tuple[str, ...] = ("matte", "shiny", "glass")

# Background name -> phrase that places an object in it (DreamBench-style recontextualisation).
BACKGROUNDS: dict[str, str] = {
    "studio": "in a studio",
    "jungle": "in the jungle",
    "snow": "in the snow",
    "beach": "on the beach",
    "street": "on a cobblestone street",
    "wooden floor": "on top of a wooden floor",
    "night sky": "under a night sky",
    "pink fabric": "on top of pink fabric",
    "grass": "on green grass",
}

# Companion objects and accessories. "beside" companions stand next to the subject; "on top" ones are worn.
COMPANIONS: dict[str, str] = {
    "red ball": "beside",
    "yellow star": "beside",
    "green cube": "beside",
    "pink flower": "beside",
    "party hat": "on top",
    "crown": "on top",
}


def colour_name(hue: float) -> str:
    """The colour name whose band centre is nearest to `hue` (turns, circular)."""
    def circular_distance(name: str) -> float:
        d = abs(hue % 1.0 - COLOURS[name])
        return min(d, 1.0 - d)

    return min(COLOURS, key=circular_distance)
