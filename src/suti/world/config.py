"""The `world` config section."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """SynthBench world.

    Attributes:
      resolution: image side in pixels for every rendering in the experiment.
      n_subjects: subject identities that may own a corpus page (ids 0..n_subjects-1).
      n_distractor_subjects: further identities that only appear as distractors (ids n_subjects..), so a held-out
        subject never leaks into training pages as somebody else's distractor.
    """

    resolution: int = 32
    n_subjects: int = 2000
    n_distractor_subjects: int = 500
