"""Config `evaluation`: which methods, how many images, how they are sampled, how intervals are computed."""

from __future__ import annotations

import dataclasses

from suti.diffusion.config import SampleConfig


@dataclasses.dataclass(frozen=True)
class SynthBenchEval:
    subjects: int | None = 16             # held-out subjects (None = all)
    prompts_per_category: int | None = 2  # templates per category per subject (None = all 27)
    n_per_prompt: int = 2                 # images per (subject, prompt)


@dataclasses.dataclass(frozen=True)
class DreamBenchEval:
    enabled: bool = True
    subjects: int | None = None           # None = all 30
    prompts: int | None = 5               # prompts per subject, the first ones of its set (None = all 25)
    n_per_prompt: int = 1                 # 4 at paper settings


@dataclasses.dataclass(frozen=True)
class DreamSutiConfig:
    """Dream-SuTI's brief per-subject fine-tuning of the apprentice (`apprentice.dream`)."""

    steps: int = 25                 # fine-tuning steps per subject
    batch_size: int = 4             # demonstrations denoised per step (cycled when there are fewer)
    learning_rate: float = 1e-4     # constant Adam rate (brief tuning: no schedule)
    cond_drop: float = 0.1          # as in apprentice training, so guidance keeps its null condition


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    methods: tuple[str, ...] = ("base", "oracle", "experts", "suti")
    synthbench: SynthBenchEval = SynthBenchEval()
    dreambench: DreamBenchEval = DreamBenchEval()
    sample: SampleConfig = SampleConfig(steps=25)
    dream_suti: DreamSutiConfig = DreamSutiConfig()  # per-subject tuning of method dreamsuti
    batch_size: int = 32                  # images per sampling batch
    bootstrap: int = 1000                 # subject resamples for the 95% intervals
