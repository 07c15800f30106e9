"""The property changes prompts ask for (recolour, repattern, glass), drawn alike by every render stream that
trains a model to read or draw them (the probe's and the pretraining stream)."""

from __future__ import annotations

import numpy as np

from suti.world import vocab


def draw_changes(rng: np.random.Generator, u: np.ndarray) -> dict:
    """Scene overrides from uniforms `u[:3]` the caller drew: a new colour (20%), a new pattern (15%), glass (8%).

    The caller draws `u` itself, as many as it always has, so that the released models' streams stay the same."""
    changes = {}
    if u[0] < 0.2:
        changes["recolour"] = str(rng.choice(list(vocab.COLOURS)))
    if u[1] < 0.15:
        changes["repattern"] = str(rng.choice(vocab.PATTERNS[1:]))
    if u[2] < 0.08:
        changes["material"] = "glass"
    return changes
