"""Apprentice training: imitate the experts' filtered samples given a few demonstrations of the subject.

An example is K demonstrations (K uniform in 1..max_demos) drawn from the subject's mined cluster, with their
captions, and a target prompt that names only the class ("a mug on the beach"); the target image is a kept expert
sample of that prompt. With probability `cond_drop` both the prompt and the demonstrations are dropped (the null
condition classifier-free guidance needs).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from suti import streams
from suti.apprentice.model import Apprentice
from suti.data.training_set import to_unit_range
from suti.diffusion.losses import diffusion_loss, keep_condition
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import Schedule
from suti.models.pipeline import TextToImagePipeline
from suti.training.t2i import fit_denoiser


@dataclasses.dataclass
class ApprenticeData:
    """Targets (kept expert samples) and, per subject, the demonstration pool (the mined cluster)."""

    images: np.ndarray          # uint8 [N, H, W, 3] targets
    tokens: np.ndarray          # int32 [N, L] class-noun prompts
    subject: np.ndarray         # int [N] index into demos
    demos: list[np.ndarray]     # per subject uint8 [M, H, W, 3]
    demo_tokens: list[np.ndarray]  # per subject int32 [M, L] captions
    class_nouns: list[str]      # per subject


def apprentice_batch(data: ApprenticeData, max_demos: int, batch_size: int, seed: int, step: int) -> dict:
    """One step's batch, a function of the step alone (so a resumed run sees the same batches)."""
    rng = np.random.default_rng([seed, streams.APPRENTICE_BATCHES, step])
    idx = rng.choice(len(data.images), size=batch_size, replace=len(data.images) < batch_size)
    h, w, c = data.images.shape[1:]
    demos = np.zeros((batch_size, max_demos, h, w, c), np.uint8)
    demo_tokens = np.zeros((batch_size, max_demos, data.tokens.shape[1]), np.int32)
    mask = np.zeros((batch_size, max_demos), bool)
    for row, i in enumerate(idx):
        pool = data.subject[i]
        k = min(int(rng.integers(1, max_demos + 1)), len(data.demos[pool]))
        chosen = rng.choice(len(data.demos[pool]), size=k, replace=False)
        demos[row, :k], demo_tokens[row, :k], mask[row, :k] = data.demos[pool][chosen], data.demo_tokens[pool][chosen], True
    return {"images": to_unit_range(data.images[idx]), "tokens": data.tokens[idx], "demos": to_unit_range(demos),
            "demo_tokens": demo_tokens, "demo_mask": mask}


def make_apprentice_loss(graphdef, schedule: Schedule, prediction: Prediction, cond_drop: float, null_tokens,
                         min_snr_gamma: float = 0.0):
    """loss_fn(params, batch, rng) -> (loss, aux); dropped examples lose both prompt and demonstrations."""

    def loss_fn(params, batch, rng):
        model = nnx.merge(graphdef, params)
        drop_key, diffusion_key = jax.random.split(rng)
        keep = keep_condition(drop_key, batch["tokens"].shape[0], cond_drop)
        tokens = jnp.where(keep[:, None], batch["tokens"], null_tokens[None])
        context = model.context(tokens, batch["demos"], batch["demo_tokens"], batch["demo_mask"] & keep[:, None])
        loss = diffusion_loss(lambda x, t: model(x, t, context), schedule, prediction, batch["images"],
                              diffusion_key, None, min_snr_gamma)
        return loss, {}

    return loss_fn


def init_apprentice(base: TextToImagePipeline, max_demos: int, seed: int):
    """(graphdef, params) of an apprentice whose text encoder and UNet are the base model's."""
    key = jax.random.fold_in(jax.random.key(seed), streams.APPRENTICE_INIT)
    model = Apprentice(nnx.merge(base.graphdef, base.params), max_demos, nnx.Rngs(key))
    return nnx.split(model, nnx.Param)


def train_apprentice(graphdef, params, data: ApprenticeData, null_tokens, diffusion_cfg, train_cfg, max_demos: int,
                     seed: int, ckpt=None, stop_at=None, desc="train_apprentice"):
    """Train from `params` (see `init_apprentice`); returns (final train state, history)."""
    return fit_denoiser(make_apprentice_loss, graphdef, params,
                        lambda step: apprentice_batch(data, max_demos, train_cfg.batch_size, seed, step), null_tokens,
                        diffusion_cfg, train_cfg, seed, streams.APPRENTICE_TRAIN, ckpt, stop_at, desc)
