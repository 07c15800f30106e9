"""Prompt templates in DreamBench's three categories, with DreamBench's `{0} {1}` (identifier, class) convention.

Each template also says which scene it asks for, so a rendering of the prompt's ground truth exists and prompt
alignment can be measured exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from suti.world import vocab
from suti.world.scenes import Scene, sample_scene

RECONTEXTUALIZATION = "recontextualization"
ACCESSORIZATION = "accessorization"
PROPERTY = "property"
CATEGORIES = (RECONTEXTUALIZATION, ACCESSORIZATION, PROPERTY)


@dataclasses.dataclass(frozen=True)
class PromptTemplate:
    """A prompt with `{0}` (identifier) and `{1}` (class) slots and the scene fields it fixes."""

    prompt_id: str
    category: str
    template: str
    scene: tuple[tuple[str, object], ...]

    def format(self, cls: str, identifier: str | None = None) -> str:
        """The prompt for `cls`, with the identifier when given (DreamBench's `.format(unique_token, class_token)`)."""
        if identifier:
            return self.template.format(identifier, cls)
        return self.template.replace("{0} {1}", "{1}").format(None, cls)

    def sample_scene(self, rng: np.random.Generator) -> Scene:
        """A random scene that satisfies this prompt (no companion or material change unless asked)."""
        fields = dict(companion=None, material="matte", background="studio")
        fields.update(dict(self.scene))
        return sample_scene(rng, **fields)


def _templates() -> tuple[PromptTemplate, ...]:
    out = []
    for bg, phrase in vocab.BACKGROUNDS.items():
        if bg != "studio":
            out.append((RECONTEXTUALIZATION, "a {0} {1} " + phrase, (("background", bg),)))
    for name, where in vocab.COMPANIONS.items():
        text = f"a {{0}} {{1}} wearing a {name}" if where == "on top" else f"a {{0}} {{1}} with a {name} next to it"
        out.append((ACCESSORIZATION, text, (("companion", name),)))
    for colour in ("red", "blue", "purple", "green"):
        out.append((PROPERTY, f"a {colour} {{0}} {{1}}", (("recolour", colour),)))
    for pattern in ("stripes", "dots", "checker"):
        out.append((PROPERTY, f"a {vocab.PATTERN_WORDS[pattern]} {{0}} {{1}}", (("repattern", pattern),)))
    out.append((PROPERTY, "a shiny {0} {1}", (("material", "shiny"),)))
    out.append((PROPERTY, "a glass {0} {1}", (("material", "glass"),)))
    return tuple(PromptTemplate(f"p{i:02d}", cat, text, scene) for i, (cat, text, scene) in enumerate(out))


PROMPTS: tuple[PromptTemplate, ...] = _templates()


def prompts_by_category(category: str) -> list[PromptTemplate]:
    return [p for p in PROMPTS if p.category == category]


def choose_templates(seed: list[int], per_category: int | None) -> list[PromptTemplate]:
    """`per_category` templates of each category drawn with `np.random.default_rng(seed)` (all of them when None)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for category in CATEGORIES:
        pool = prompts_by_category(category)
        n = len(pool) if per_category is None else min(per_category, len(pool))
        chosen += [pool[i] for i in sorted(rng.choice(len(pool), n, replace=False))]
    return chosen


def vocabulary_texts() -> list[str]:
    """Every prompt for every class, plus every word a caption or an evaluation prompt can use, so that a
    tokenizer built from captions alone still knows the words of held-out prompts."""
    texts = [p.format(cls) for p in PROMPTS for cls in vocab.CLASSES]
    texts += list(vocab.COLOURS) + list(vocab.PATTERN_WORDS.values()) + list(vocab.MATERIALS)
    texts += list(vocab.BACKGROUNDS.values()) + [f"wearing a {c} with a {c} next to it" for c in vocab.COMPANIONS]
    return texts + ["a photo of a picture of my close up of"]


def scene_prompt(cls: str, colour: str | None = None, background: str | None = None) -> str:
    """A caption-style prompt ("a photo of a red mug on the beach") for base-model evaluation."""
    words = " ".join(w for w in (colour, cls) if w)
    text = f"a photo of a {words}"
    return text + (" " + vocab.BACKGROUNDS[background] if background and background != "studio" else "")
