"""The diffusion process and sampling config sections shared by every model (base, experts, apprentice)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
    schedule: str = "cosine"        # cosine | linear
    num_steps: int = 1000           # T
    prediction: str = "v"           # epsilon | v


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    sampler: str = "ddim"           # ddim | ddpm | dpmpp2m
    steps: int = 50
    guidance: float = 3.0           # classifier-free guidance scale (1 = no guidance)
