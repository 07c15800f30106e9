"""The `experts` config section, and which subjects each shard of experts trains."""

from __future__ import annotations

import dataclasses
import zlib

from suti.config import from_schema, schema_default
from suti.diffusion.config import SampleConfig
from suti.experts.training import ExpertConfig
from suti.models.lora import LoRAConfig
from suti.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class ExpertSampleConfig:
    sampler: str = schema_default("experts.sample.sampler")
    steps: int = schema_default("experts.sample.steps")
    guidance: float = schema_default("experts.sample.guidance")
    prompts_per_category: int | None = schema_default("experts.sample.prompts_per_category")  # None: every template
    samples_per_prompt: int = schema_default("experts.sample.samples_per_prompt")
    batch_size: int = schema_default("experts.sample.batch_size")

    @property
    def sampling(self) -> SampleConfig:
        return SampleConfig(self.sampler, self.steps, self.guidance)


@dataclasses.dataclass(frozen=True)
class ExpertsSection:
    subjects: int = schema_default("experts.subjects")
    shard_size: int = schema_default("experts.shard_size")
    identifier: str = schema_default("experts.identifier")
    mode: str = schema_default("experts.mode")
    strategy: str = schema_default("experts.strategy")
    lora: LoRAConfig = from_schema(LoRAConfig, "experts.lora")
    instance_batch: int = schema_default("experts.instance_batch")
    prior_batch: int = schema_default("experts.prior_batch")
    prior_weight: float = schema_default("experts.prior_weight")
    priors_per_class: int = schema_default("experts.priors_per_class")
    train: TrainConfig = from_schema(TrainConfig, "experts.train")
    sample: ExpertSampleConfig = from_schema(ExpertSampleConfig, "experts.sample")

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
