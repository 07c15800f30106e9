"""The `apprentice` config section."""

from __future__ import annotations

import dataclasses

from suti.config import from_schema, schema_default
from suti.diffusion.config import SampleConfig
from suti.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class DistillConfig(TrainConfig):
    """Config `apprentice.distill`: guidance distillation of the main apprentice (`apprentice.distill`)."""

    guidance: float = schema_default("apprentice.distill.guidance")  # the teacher's scale the student renders at
    cond_drop: float = 0.0  # the student is only ever conditioned (not a key of the section)


@dataclasses.dataclass(frozen=True)
class ApprenticeConfig:
    """Config `apprentice`."""

    init: str = schema_default("apprentice.init")  # pretrained: from pretrained/apprentice; scratch: the base model
    taus: tuple = schema_default("apprentice.taus")  # one apprentice per tau (values of filter.taus)
    # the apprentice of the main comparison (read by the evaluation)
    main_tau: float | None = schema_default("apprentice.main_tau")
    max_demos: int = schema_default("apprentice.max_demos")  # demonstrations per example: K uniform in 1..max_demos
    # pixel patch side: a demonstration's pixels enter as patch tokens too (0 = its CLIP embedding only)
    demo_patch: int = schema_default("apprentice.demo_patch")
    # how demonstrations enter: clip (CLIP embedding tokens and FiLM), unet (feature maps attended), both
    demo_path: str = schema_default("apprentice.demo_path")
    # what encodes the feature maps: shared (the UNet's own down path, Re-Imagen's) or light (an encoder of its own)
    map_encoder: str = schema_default("apprentice.map_encoder")
    map_resolutions: tuple = schema_default("apprentice.map_resolutions")  # sides whose attention reads the maps
    map_key_side: int = schema_default("apprentice.map_key_side")  # finer maps are pooled to this side as keys
    # feature-map sides where the apprentice cross-attends besides the base model's (new blocks start at zero)
    cross_attention_resolutions: tuple = schema_default("apprentice.cross_attention_resolutions")
    # share of each imitation and distillation batch drawn from the raw clusters (replay of the clusters phase)
    cluster_replay: float = schema_default("apprentice.cluster_replay")
    demos: int = schema_default("apprentice.demos")  # demonstrations per subject in the main comparison
    demo_ablation: tuple = schema_default("apprentice.demo_ablation")
    source_ablation: bool = schema_default("apprentice.source_ablation")  # clusters-only and experts-only apprentices
    clusters: TrainConfig = from_schema(TrainConfig, "apprentice.clusters")  # in-context pretraining (steps 0: none)
    train: TrainConfig = from_schema(TrainConfig, "apprentice.train")  # imitation of the experts
    distill: DistillConfig = from_schema(DistillConfig, "apprentice.distill")  # steps 0: none
    sample: SampleConfig = from_schema(SampleConfig, "apprentice.sample")  # the preview grid
