"""Training losses: the simple (unweighted MSE) diffusion loss with condition dropout for guidance."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from suti.diffusion.process import Prediction, q_sample, target
from suti.diffusion.schedules import Schedule


def min_snr_weight(schedule: Schedule, t: jax.Array, prediction: Prediction, gamma: float) -> jax.Array:
    """Min-SNR-gamma loss weights (Hang et al., 2023): equalise the timesteps' pull, converging several times faster.

    In x0 terms the weight is min(SNR, gamma); divided by what the target already carries (SNR for epsilon,
    SNR + 1 for v). gamma = 0 turns weighting off (all ones).
    """
    if gamma <= 0:
        return jnp.ones(t.shape, jnp.float32)
    snr = schedule.alpha_bar[t] / (1.0 - schedule.alpha_bar[t])
    clipped = jnp.minimum(snr, gamma)
    return clipped / (snr + 1.0) if prediction == Prediction.V else clipped / snr


def sample_t_noise(rng: jax.Array, shape: tuple, num_steps: int, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """Timesteps t ~ U{0..T-1} [B] and noise eps ~ N(0, I) of `shape` [B, ...] from one key."""
    t_key, noise_key = jax.random.split(rng)
    return jax.random.randint(t_key, (shape[0],), 0, num_steps), jax.random.normal(noise_key, shape, dtype)


def per_example_loss(
    model: Callable,
    schedule: Schedule,
    prediction: Prediction,
    x0: jax.Array,
    t: jax.Array,
    noise: jax.Array,
    min_snr_gamma: float = 0.0,
) -> jax.Array:
    """[B] squared error between model(x_t, t) and its target at the given timesteps and noise (Min-SNR weighted
    when min_snr_gamma > 0)."""
    out = model(q_sample(schedule, x0, t, noise), t)
    per_example = jnp.mean((out - target(schedule, prediction, x0, t, noise)) ** 2, axis=(1, 2, 3))
    return per_example * min_snr_weight(schedule, t, prediction, min_snr_gamma)


def diffusion_loss(
    model: Callable,
    schedule: Schedule,
    prediction: Prediction,
    x0: jax.Array,
    rng: jax.Array,
    weights: jax.Array | None = None,
    min_snr_gamma: float = 0.0,
) -> jax.Array:
    """Mean squared error between model(x_t, t) and its target, t uniform, eps ~ N(0, I).

    Args:
      model: (x_t [B,H,W,C], t int [B]) -> output [B,H,W,C]; the context is already bound in.
      schedule, prediction: the process and what the model predicts.
      x0: clean images in [-1, 1], [B, H, W, C].
      rng: one key; split here into timestep and noise keys.
      weights: optional per-example weights [B]; mean over the batch otherwise.
      min_snr_gamma: > 0 weights timesteps by Min-SNR-gamma; 0 is the plain unweighted loss.

    Returns:
      scalar loss.
    """
    t, noise = sample_t_noise(rng, x0.shape, schedule.num_steps, x0.dtype)
    per_example = per_example_loss(model, schedule, prediction, x0, t, noise, min_snr_gamma)
    if weights is None:
        return jnp.mean(per_example)
    return jnp.sum(per_example * weights) / jnp.maximum(jnp.sum(weights), 1e-8)


def keep_condition(rng: jax.Array, n: int, p_drop: float) -> jax.Array:
    """Classifier-free guidance training: a [n] bool mask, False (with probability `p_drop`) where an example's
    condition is replaced by the null one, so that the model also learns the unconditional prediction."""
    return jax.random.uniform(rng, (n,)) >= p_drop
