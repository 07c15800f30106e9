"""Training losses: the simple (unweighted MSE) diffusion loss with condition dropout for guidance."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from suti.diffusion.process import Prediction, q_sample, target
from suti.diffusion.schedules import Schedule


def diffusion_loss(
    model: Callable,
    schedule: Schedule,
    prediction: Prediction,
    x0: jax.Array,
    rng: jax.Array,
    weights: jax.Array | None = None,
) -> jax.Array:
    """Mean squared error between model(x_t, t) and its target, t uniform, eps ~ N(0, I).

    Args:
      model: (x_t [B,H,W,C], t int [B]) -> output [B,H,W,C]; the context is already bound in.
      schedule, prediction: the process and what the model predicts.
      x0: clean images in [-1, 1], [B, H, W, C].
      rng: one key; split here into timestep and noise keys.
      weights: optional per-example weights [B] (e.g. a prior-preservation weight); mean over the batch otherwise.

    Returns:
      scalar loss.
    """
    t_key, noise_key = jax.random.split(rng)
    t = jax.random.randint(t_key, (x0.shape[0],), 0, schedule.num_steps)
    noise = jax.random.normal(noise_key, x0.shape, x0.dtype)
    out = model(q_sample(schedule, x0, t, noise), t)
    per_example = jnp.mean((out - target(schedule, prediction, x0, t, noise)) ** 2, axis=(1, 2, 3))
    if weights is None:
        return jnp.mean(per_example)
    return jnp.sum(per_example * weights) / jnp.maximum(jnp.sum(weights), 1e-8)


def drop_condition(rng: jax.Array, keep: jax.Array, p_drop: float) -> jax.Array:
    """Classifier-free guidance training: a [B] bool mask, False where the condition is replaced by the null one."""
    return jnp.logical_and(keep, jax.random.uniform(rng, keep.shape) >= p_drop)
