"""Config `evaluation`: which methods, how many images, how they are sampled, how intervals are computed."""

from __future__ import annotations

import dataclasses

from suti.config import from_schema, schema_default
from suti.diffusion.config import SampleConfig


@dataclasses.dataclass(frozen=True)
class SynthBenchEval:
    subjects: int | None = schema_default("evaluation.synthbench.subjects")  # held-out subjects (None = all)
    # the demonstration ablation's held-out subjects (None = all; `-wide` methods where it differs from subjects)
    demo_subjects: int | None = schema_default("evaluation.synthbench.demo_subjects")
    # templates per category per subject (None = all 27)
    prompts_per_category: int | None = schema_default("evaluation.synthbench.prompts_per_category")
    n_per_prompt: int = schema_default("evaluation.synthbench.n_per_prompt")  # images per (subject, prompt)


@dataclasses.dataclass(frozen=True)
class TestSplitEval:
    """SynthBench's test split (`suti.evaluation.test_split`)."""

    enabled: bool = schema_default("evaluation.test.enabled")
    seed: int = schema_default("evaluation.test.seed")          # which subjects, and their demonstrations' scenes
    subjects: int = schema_default("evaluation.test.subjects")


@dataclasses.dataclass(frozen=True)
class TimingEval:
    """The speed comparison's measurement (rule time_methods, `suti.evaluation.timing`)."""

    subjects: int = schema_default("evaluation.timing.subjects")   # the test split's first N subjects
    repeats: int = schema_default("evaluation.timing.repeats")     # every (subject, method) N times, interleaved


@dataclasses.dataclass(frozen=True)
class DreamBenchEval:
    enabled: bool = schema_default("evaluation.dreambench.enabled")
    subjects: int | None = schema_default("evaluation.dreambench.subjects")  # None = all 30
    # prompts per subject, the first ones of its set (None = all 25)
    prompts: int | None = schema_default("evaluation.dreambench.prompts")
    n_per_prompt: int = schema_default("evaluation.dreambench.n_per_prompt")  # 4 at paper settings


@dataclasses.dataclass(frozen=True)
class IdentityEval:
    """SynthBench's identity metrics (`suti.evaluation.identity`)."""

    lookalikes: int = schema_default("evaluation.identity.lookalikes")  # beside the true subject (chance 1 / (n + 1))
    references: int = schema_default("evaluation.identity.references")  # fresh reference renders per candidate


@dataclasses.dataclass(frozen=True)
class DreamSutiConfig:
    """Dream-SuTI's brief per-subject fine-tuning of the apprentice (`apprentice.dream`)."""

    steps: int = schema_default("evaluation.dream_suti.steps")  # fine-tuning steps per subject
    # demonstrations denoised per step (cycled when there are fewer)
    batch_size: int = schema_default("evaluation.dream_suti.batch_size")
    # constant Adam rate (brief tuning: no schedule)
    learning_rate: float = schema_default("evaluation.dream_suti.learning_rate")
    # as in apprentice training, so guidance keeps its null condition
    cond_drop: float = schema_default("evaluation.dream_suti.cond_drop")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    methods: tuple[str, ...] = schema_default("evaluation.methods")
    synthbench: SynthBenchEval = from_schema(SynthBenchEval, "evaluation.synthbench")
    dreambench: DreamBenchEval = from_schema(DreamBenchEval, "evaluation.dreambench")
    test: TestSplitEval = from_schema(TestSplitEval, "evaluation.test")
    timing: TimingEval = from_schema(TimingEval, "evaluation.timing")
    select_tau: dict = dataclasses.field(default_factory=lambda: {"metric": schema_default(
        "evaluation.select_tau.metric")})  # rule select_tau's
    sample: SampleConfig = from_schema(SampleConfig, "evaluation.sample")
    # per-subject tuning of method dreamsuti
    dream_suti: DreamSutiConfig = from_schema(DreamSutiConfig, "evaluation.dream_suti")
    identity: IdentityEval = from_schema(IdentityEval, "evaluation.identity")
    batch_size: int = schema_default("evaluation.batch_size")  # images per sampling batch
    bootstrap: int = schema_default("evaluation.bootstrap")  # subject resamples for the 95% intervals
