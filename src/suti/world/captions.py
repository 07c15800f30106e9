"""Captions generated from a scene, in the loose style of web alt-text."""

from __future__ import annotations

import numpy as np

from suti.world import vocab
from suti.world.render import appearance
from suti.world.scenes import Scene
from suti.world.subjects import Subject

_OPENERS = ("a photo of", "a picture of", "my", "close-up of", "")
_MISSES = (
    "summer holiday pictures",
    "untitled",
    "IMG_{n}",
    "look what I found today",
    "{bg} at dusk",
    "view {bg}",
    "photo {n}",
)


def describe(subject: Subject, scene: Scene, rng: np.random.Generator) -> str:
    """A caption that names the subject's class, often its colour or pattern, and the scene."""
    look = appearance(subject, scene)
    words = []
    if rng.uniform() < 0.7:
        words.append(look["colour"])
    if look["pattern"] != "solid" and rng.uniform() < 0.5:
        words.append(vocab.PATTERN_WORDS[look["pattern"]])
    if scene.material != "matte" and rng.uniform() < 0.7:
        words.append(scene.material)
    words.append(subject.cls)
    opener = _OPENERS[rng.integers(len(_OPENERS))]
    article = "" if opener == "my" else "a "
    text = f"{opener} {article}{' '.join(words)}".strip()
    if scene.background != "studio" and rng.uniform() < 0.8:
        text += " " + vocab.BACKGROUNDS[scene.background]
    if scene.companion is not None and rng.uniform() < 0.8:
        where = "wearing a" if vocab.COMPANIONS[scene.companion] == "on top" else "with a"
        text += f" {where} {scene.companion}"
    return text


def miss(scene: Scene, rng: np.random.Generator) -> str:
    """A caption that misses the subject entirely (web noise)."""
    text = _MISSES[rng.integers(len(_MISSES))]
    return text.format(n=int(rng.integers(1000, 9999)), bg=scene.background)
