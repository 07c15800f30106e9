"""The `apprentice` config section."""

from __future__ import annotations

import dataclasses

from suti.diffusion.config import SampleConfig
from suti.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class ApprenticeConfig:
    """Config `apprentice`."""

    taus: tuple = (None, 0.1)         # one apprentice per tau (values of filter.taus)
    main_tau: float | None = 0.1      # the apprentice of the main comparison (read by the evaluation)
    max_demos: int = 5                # demonstrations per example: K uniform in 1..max_demos
    demos: int = 3                    # demonstrations per subject in the main comparison
    demo_ablation: tuple = (1, 2, 3, 4, 5)
    train: TrainConfig = TrainConfig()
    sample: SampleConfig = SampleConfig(steps=25)   # the preview grid
