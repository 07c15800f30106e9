"""The `pretrain` config section (config/pretrain.yaml): the pretraining budget and seed of each model.

Architectures come from the experiment's own sections (`suti.pretrain.release`'s `*_architecture`), so the config
that trains a model from scratch and the one that loads its release are one.
"""

from __future__ import annotations

import dataclasses

from suti.config import from_dict
from suti.diffusion.config import SampleConfig
from suti.pretrain.release import clip_architecture
from suti.scoring.clip_training import ScorerConfig
from suti.scoring.probe import ProbeConfig
from suti.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class ClipBudget:
    steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.1
    checkpoint_every: int = 250
    n_eval: int = 2000            # held-out renders for zero-shot accuracy and caption retrieval
    curve_every: int = 0          # steps between learning-curve readings (0: none; a multiple of checkpoint_every)
    curve_eval: int = 500         # held-out renders of each reading


@dataclasses.dataclass(frozen=True)
class EvalClipBudget(ClipBudget):
    """The evaluation CLIP's: the scoring CLIP's budget, its own world seed (other identities) and stream."""

    seed: int = 2


@dataclasses.dataclass(frozen=True)
class ProbeBudget:
    steps: int = 2500
    batch_size: int = 64
    learning_rate: float = 4e-3
    checkpoint_every: int = 500
    n_eval: int = 2000


@dataclasses.dataclass(frozen=True)
class JudgeBudget:
    steps: int = 2000
    groups: int = 16              # look-alike groups per batch
    identities: int = 4           # identities per group: a stream identity and its look-alikes
    renders: int = 2              # renders per identity: a reference scene, a prompt scene
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    temperature: float = 0.1
    checkpoint_every: int = 250
    curve_every: int = 250        # steps between learning-curve readings (0: only the final one)
    curve_subjects: int = 60      # held-out identities of a curve reading
    eval_subjects: int = 200      # held-out identities of the final reading (the gate)


@dataclasses.dataclass(frozen=True)
class BaseBudget:
    train: TrainConfig = TrainConfig()
    sample: SampleConfig = SampleConfig()
    curve_every: int = 1000                 # steps between learning-curve readings (0: only at the end)
    # a released base model (pretrained/base) to continue: its weights, tokenizer and frozen text tower; the stream
    # goes on after the steps it saw. "" = a fresh model on the pretrained CLIP's text tower.
    init_from: str = ""
    curve: dict = dataclasses.field(default_factory=lambda: {"colours_per_combo": 2, "n_per_prompt": 2})
    eval: dict = dataclasses.field(default_factory=lambda: {"colours_per_combo": 4, "n_per_prompt": 4})


@dataclasses.dataclass(frozen=True)
class ApprenticeBudget:
    identities: int = 8000                  # stream identities in the pool
    images_per_identity: int = 6            # scenes rendered per identity (a target and up to 5 demonstrations)
    train: TrainConfig = TrainConfig()
    sample: SampleConfig = SampleConfig()   # the in-context quality reading and the sample grid
    eval_identities: int = 128              # held-out stream identities of the in-context quality reading
    # start from the base model, CLIP and probe already in pretrained/ instead of releasing this run's own first
    from_released: bool = False
    # an exported apprentice to continue (e.g. pretrained/apprentice): its weights where the new one has the same
    # (a richer demo_path's new blocks start at zero, so it starts out drawing as this one); empty = the base model
    init_from: str = ""


@dataclasses.dataclass(frozen=True)
class PretrainConfig:
    seed: int = 1                 # the pretraining world seed and RNG root (identities >= pretrain.stream.FIRST_ID)
    render_workers: int = 0       # processes rendering the stream ahead (0: the trainer renders; for accelerators)
    clip: ClipBudget = ClipBudget()
    eval_clip: EvalClipBudget = EvalClipBudget()
    probe: ProbeBudget = ProbeBudget()
    judge: JudgeBudget = JudgeBudget()
    base: BaseBudget = BaseBudget()
    apprentice: ApprenticeBudget = ApprenticeBudget()


def clip_config(scorer: dict, budget: ClipBudget) -> ScorerConfig:
    """The ScorerConfig of the pretrained CLIP: the scorer section's architecture, the pretraining budget."""
    return from_dict(ScorerConfig, dict(clip_architecture(scorer), steps=budget.steps, batch_size=budget.batch_size,
                                        learning_rate=budget.learning_rate, warmup_steps=budget.warmup_steps,
                                        weight_decay=budget.weight_decay))


def probe_config(probe: dict, budget: ProbeBudget) -> ProbeConfig:
    return ProbeConfig(steps=budget.steps, batch_size=budget.batch_size, learning_rate=budget.learning_rate,
                       width=probe["width"], n_eval=budget.n_eval)

