"""Text-to-image training and sampling functions: the loss with condition dropout, and a jitted sampler."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from suti import streams
from suti.data.training_set import to_unit_range
from suti.diffusion.losses import diffusion_loss, keep_condition
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import Schedule, get_schedule
from suti.models.t2i import TextToImage
from suti.training.loop import batch_indices, train_loop
from suti.training.optim import make_optimizer
from suti.training.state import create_train_state, make_train_step


def make_t2i_loss(graphdef, schedule: Schedule, prediction: Prediction, cond_drop: float, null_tokens: jax.Array,
                  min_snr_gamma: float = 0.0):
    """loss_fn(params, batch, rng) -> (loss, aux) for batches {"images" [-1,1], "tokens", optional "weights"}.

    With probability `cond_drop` an example's caption is replaced by the empty caption (`null_tokens` [L]), which
    teaches the unconditional model that classifier-free guidance needs.
    """

    def loss_fn(params, batch, rng):
        model = nnx.merge(graphdef, params)
        drop_key, diffusion_key = jax.random.split(rng)
        keep = keep_condition(drop_key, batch["tokens"].shape[0], cond_drop)
        tokens = jnp.where(keep[:, None], batch["tokens"], null_tokens[None])
        context = model.encode_text(tokens)
        loss = diffusion_loss(lambda x, t: model(x, t, context), schedule, prediction, batch["images"],
                              diffusion_key, batch.get("weights"), min_snr_gamma)
        return loss, {}

    return loss_fn


def init_model(model_cfg, vocab_size: int, seed: int, text_weights: dict | None = None):
    """(graphdef, params) of a freshly initialised TextToImage model.

    text_weights: the frozen text tower's weights when `model_cfg.text_encoder` is "clip"
    (`ClipTextTower.text_weights`); the UNet is initialised either way.
    """
    key = jax.random.fold_in(jax.random.key(seed), streams.T2I_INIT)
    model = TextToImage(model_cfg, vocab_size, nnx.Rngs(key))
    if model_cfg.text_encoder == "clip":
        if text_weights is None:
            raise ValueError("text_encoder 'clip' needs the text tower's weights (init_model(text_weights=...))")
        model.text.assign(text_weights)
    return nnx.split(model, nnx.Param)


def train_t2i(graphdef, params, images_u8, tokens, null_tokens, diffusion_cfg, train_cfg, seed: int,
              ckpt=None, stop_at=None, desc="train_base", weights=None):
    """Train a text-to-image model on (images, tokens). Returns (final train state, history).

    Args:
      graphdef, params: the model (from `init_model`, or a base model's params to fine-tune).
      images_u8: uint8 [N, H, W, 3]; tokens: int32 [N, L]; null_tokens: int32 [L] (the empty caption).
      weights: optional float [N] per-example loss weights.
      ckpt, stop_at: checkpointing and resume (see `training.loop.train_loop`).
    """

    def batch_fn(step):
        idx = batch_indices(len(images_u8), train_cfg.batch_size, seed, step)
        batch = {"images": to_unit_range(images_u8[idx]), "tokens": tokens[idx]}
        if weights is not None:
            batch["weights"] = weights[idx]
        return batch

    return fit_t2i(graphdef, params, batch_fn, null_tokens, diffusion_cfg, train_cfg, seed, ckpt, stop_at, desc)


def fit_t2i(graphdef, params, batch_fn, null_tokens, diffusion_cfg, train_cfg, seed: int, ckpt=None, stop_at=None,
            desc="train_base"):
    """Train a text-to-image model on `batch_fn(step) -> {"images" [-1, 1], "tokens"[, "weights"]}` (a dataset or
    an endless render stream). Returns (final train state, history)."""
    return fit_denoiser(make_t2i_loss, graphdef, params, batch_fn, null_tokens, diffusion_cfg, train_cfg, seed,
                        streams.T2I_TRAIN, ckpt, stop_at, desc)


def fit_denoiser(make_loss, graphdef, params, batch_fn, null_tokens, diffusion_cfg, train_cfg, seed: int, stream: int,
                 ckpt=None, stop_at=None, desc="train"):
    """The training of every denoiser (text-to-image model, apprentice): `make_loss(graphdef, schedule, prediction,
    cond_drop, null_tokens, min_snr_gamma)` under AdamW with EMA, noise keys from `(seed, stream)`, resumable from
    `ckpt`. Returns (final train state, history)."""
    schedule = get_schedule(diffusion_cfg.schedule, diffusion_cfg.num_steps)
    loss_fn = make_loss(graphdef, schedule, Prediction(diffusion_cfg.prediction), train_cfg.cond_drop,
                        jnp.asarray(null_tokens), train_cfg.min_snr_gamma)
    tx = make_optimizer(train_cfg)
    step_fn = make_train_step(loss_fn, tx, train_cfg.ema_decay)
    rng = jax.random.fold_in(jax.random.key(seed), stream)
    return train_loop(step_fn, create_train_state(params, tx), batch_fn, train_cfg, rng, ckpt, stop_at, desc)
