"""The training config section shared by every model (base, experts, apprentice); the diffusion process and
sampling sections are `suti.diffusion.config`."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32
    steps: int = 1200
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    cond_drop: float = 0.1          # classifier-free guidance: probability of training on the null condition
    min_snr_gamma: float = 5.0      # Min-SNR-gamma timestep weighting (0 = unweighted)
    checkpoint_every: int = 200
    log_every: int = 50
