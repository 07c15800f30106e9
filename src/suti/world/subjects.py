"""Subject identities: a class plus continuous appearance parameters, deterministic from (world seed, subject id)."""

from __future__ import annotations

import dataclasses

import numpy as np

from suti.world import vocab

# Half-width of each colour band (turns): 40% of the gap to the nearest other band centre, so that a jittered hue
# keeps its colour name.
_CENTRES = sorted(vocab.COLOURS.values())
_HALF_WIDTH = {
    name: 0.4 * min(min(abs(c - o), 1 - abs(c - o)) for o in _CENTRES if o != c)
    for name, c in vocab.COLOURS.items()
}


@dataclasses.dataclass(frozen=True)
class Subject:
    """One visual subject. Everything that makes it *this* subject rather than another of its class.

    Attributes:
      subject_id: index in the world.
      cls: class noun (one of `vocab.CLASSES`).
      colour: colour name of `hue`.
      hue, sat, val: primary colour in HSV (hue in turns).
      hue2: pattern colour hue (turns); the pattern colour is paler and lighter than the primary.
      pattern: one of `vocab.PATTERNS`.
      freq: pattern frequency (cycles across the object), phase: pattern phase (turns), angle: stripe angle (rad).
      aspect: width / height of the silhouette; part: class-specific proportion in [0, 1] (neck, handle, lid...).
    """

    subject_id: int
    cls: str
    colour: str
    hue: float
    sat: float
    val: float
    hue2: float
    pattern: str
    freq: float
    phase: float
    angle: float
    aspect: float
    part: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def make_subject(world_seed: int, subject_id: int) -> Subject:
    """The subject with id `subject_id` in the world of `world_seed`; same arguments, same subject."""
    rng = np.random.default_rng([world_seed, 0x5B1EC7, subject_id])
    colour = str(rng.choice(list(vocab.COLOURS)))
    hue = (vocab.COLOURS[colour] + rng.uniform(-1, 1) * _HALF_WIDTH[colour]) % 1.0
    return Subject(
        subject_id=int(subject_id),
        cls=str(vocab.CLASSES[rng.integers(len(vocab.CLASSES))]),
        colour=colour,
        hue=float(hue),
        sat=float(rng.uniform(0.6, 0.95)),
        val=float(rng.uniform(0.6, 0.95)),
        hue2=float((hue + rng.uniform(0.25, 0.75)) % 1.0),
        pattern=str(rng.choice(vocab.PATTERNS, p=[0.3, 0.2, 0.2, 0.15, 0.15])),
        freq=float(rng.uniform(1.5, 3.5)),  # cycles per object height: visible even at 32 px
        phase=float(rng.uniform(0.0, 1.0)),
        angle=float(rng.uniform(0.0, np.pi)),
        aspect=float(rng.uniform(0.75, 1.3)),
        part=float(rng.uniform(0.0, 1.0)),
    )


def make_subjects(world_seed: int, subject_ids) -> list[Subject]:
    """`make_subject` for each id."""
    return [make_subject(world_seed, int(i)) for i in subject_ids]
