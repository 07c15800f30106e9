"""The `experts` config section, and which subjects each shard of experts trains."""

from __future__ import annotations

import dataclasses
import zlib

from suti.experts.training import ExpertConfig
from suti.models.lora import LoRAConfig
from suti.diffusion.config import SampleConfig
from suti.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class ExpertSampleConfig:
    sampler: str = "ddim"
    steps: int = 25
    guidance: float = 3.0
    prompts_per_category: int | None = 3    # None: every template
    samples_per_prompt: int = 2
    batch_size: int = 32

    @property
    def sampling(self) -> SampleConfig:
        return SampleConfig(self.sampler, self.steps, self.guidance)


@dataclasses.dataclass(frozen=True)
class ExpertsSection:
    subjects: int = 32
    shard_size: int = 16
    identifier: str = "sks"
    mode: str = "lora"
    strategy: str = "batched"
    lora: LoRAConfig = LoRAConfig()
    instance_batch: int = 1
    prior_batch: int = 1
    prior_weight: float = 1.0
    priors_per_class: int = 32
    train: TrainConfig = TrainConfig(steps=400, learning_rate=5e-3, warmup_steps=20, weight_decay=0.0,
                                     checkpoint_every=100, log_every=20)
    sample: ExpertSampleConfig = ExpertSampleConfig()

    @property
    def expert(self) -> ExpertConfig:
        return ExpertConfig(self.mode, self.strategy, self.lora, self.instance_batch, self.prior_batch,
                            self.prior_weight, self.train)


def shard_subjects(train_subjects: list[str], cfg: ExpertsSection, shard: int) -> list[str]:
    """The subjects of shard `shard`: a slice of the first `cfg.subjects` train subjects in sorted order (empty when
    mining found fewer)."""
    chosen = sorted(train_subjects)[: cfg.subjects]
    return chosen[shard * cfg.shard_size: (shard + 1) * cfg.shard_size]


def subject_seed(seed: int, subject: str) -> int:
    """An expert's own seed: a stable function of the run seed and its subject (not of its shard or position)."""
    return zlib.crc32(f"{seed}/{subject}".encode()) & 0x7FFFFFFF
