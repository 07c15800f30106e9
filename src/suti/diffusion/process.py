"""The forward process q(x_t | x_0) and conversions between what a model predicts and (eps, x0)."""

from __future__ import annotations

import enum

import jax
import jax.numpy as jnp

from suti.diffusion.schedules import Schedule


class Prediction(str, enum.Enum):
    """What the network outputs."""

    EPSILON = "epsilon"  # the added noise
    V = "v"              # v = sqrt(a) * eps - sqrt(1 - a) * x0 (Salimans & Ho, 2022)


def _coeffs(schedule: Schedule, t: jax.Array):
    """sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t), shaped [B, 1, 1, 1] for images."""
    a = schedule.alpha_bar[t][:, None, None, None]
    return jnp.sqrt(a), jnp.sqrt(1.0 - a)


def q_sample(schedule: Schedule, x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
    """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps. x0, noise: [B, H, W, C]; t: int [B]."""
    sa, so = _coeffs(schedule, t)
    return sa * x0 + so * noise


def target(schedule: Schedule, prediction: Prediction, x0, t, noise) -> jax.Array:
    """What a model of kind `prediction` should output for (x0, t, noise)."""
    if prediction == Prediction.EPSILON:
        return noise
    sa, so = _coeffs(schedule, t)
    return sa * noise - so * x0


def predict_eps_x0(schedule: Schedule, prediction: Prediction, x_t, t, output):
    """(eps, x0) implied by a model output at x_t, t."""
    sa, so = _coeffs(schedule, t)
    if prediction == Prediction.EPSILON:
        eps = output
        x0 = (x_t - so * eps) / sa
    else:
        x0 = sa * x_t - so * output
        eps = so * x_t + sa * output
    return eps, x0
