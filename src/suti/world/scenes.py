"""Scenes: where and how a subject is shown (background, pose, light, companions, property changes)."""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from suti.world import vocab


@dataclasses.dataclass(frozen=True)
class Scene:
    """One rendering context for a subject.

    Attributes:
      background: one of `vocab.BACKGROUNDS`; bg_var in [0, 1) varies its texture and tint.
      cx, cy: object centre (fraction of the image, y down); scale: object height as a fraction of the image.
      angle: in-plane rotation (radians); brightness: global light; light_angle: direction of the shading gradient.
      companion: one of `vocab.COMPANIONS` or None.
      material: one of `vocab.MATERIALS`.
      recolour: a colour name that replaces the subject's own colour (property modification), or None.
      repattern: a pattern that replaces the subject's own pattern (property modification), or None.
    """

    background: str = "studio"
    bg_var: float = 0.0
    cx: float = 0.5
    cy: float = 0.5
    scale: float = 0.6
    angle: float = 0.0
    brightness: float = 1.0
    light_angle: float = 0.0
    companion: Optional[str] = None
    material: str = "matte"
    recolour: Optional[str] = None
    repattern: Optional[str] = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


CANONICAL = Scene()


def sample_scene(
    rng: np.random.Generator,
    *,
    companion_prob: float = 0.2,
    shiny_prob: float = 0.1,
    **overrides,
) -> Scene:
    """A random scene; keyword overrides fix any field (a prompt fixes the background, say).

    Args:
      rng: the generator to draw from (advanced by a fixed number of draws whatever the overrides, so that a
        sequence of scenes stays aligned across overrides).
      companion_prob: probability of a companion object or accessory.
      shiny_prob: probability of a shiny material.
      **overrides: `Scene` fields to set instead of drawing.
    """
    scale = rng.uniform(0.5, 0.72)  # subjects fill much of the frame, as in DreamBench photos
    margin = 0.5 - 0.5 * scale - 0.03
    u = rng.uniform(size=8)
    fields = dict(
        background=str(rng.choice(list(vocab.BACKGROUNDS))),
        bg_var=float(u[0]),
        cx=float(0.5 + (2 * u[1] - 1) * margin),
        cy=float(0.5 + (2 * u[2] - 1) * margin * 0.6),
        scale=float(scale),
        angle=float(np.deg2rad(rng.uniform(-25, 25))),
        brightness=float(rng.uniform(0.8, 1.15)),
        light_angle=float(rng.uniform(0, 2 * np.pi)),
        companion=str(rng.choice(list(vocab.COMPANIONS))) if u[3] < companion_prob else None,
        material="shiny" if u[4] < shiny_prob else "matte",
    )
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Scene)}
    if unknown:
        raise ValueError(f"unknown scene fields: {sorted(unknown)}")
    fields.update(overrides)
    return Scene(**fields)
