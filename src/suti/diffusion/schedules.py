"""Noise schedules: alpha-bar(t) for integer timesteps t in [0, T)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Schedule:
    """A discrete schedule. alpha_bar[t] = prod_{s<=t} (1 - beta[s]), decreasing from ~1 to ~0. Arrays [T]."""

    betas: jax.Array
    alpha_bar: jax.Array

    @property
    def num_steps(self) -> int:
        return int(self.betas.shape[0])


def _from_alpha_bar(alpha_bar: np.ndarray) -> Schedule:
    prev = np.concatenate([[1.0], alpha_bar[:-1]])
    betas = np.clip(1.0 - alpha_bar / prev, 0.0, 0.999)
    alpha_bar = np.cumprod(1.0 - betas)
    return Schedule(betas=jnp.asarray(betas, jnp.float32), alpha_bar=jnp.asarray(alpha_bar, jnp.float32))


def linear_schedule(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    """Ho et al. (2020): betas linear in t (scaled so that any num_steps spans the same noise range)."""
    scale = 1000.0 / num_steps
    betas = np.linspace(beta_start * scale, beta_end * scale, num_steps, dtype=np.float64)
    return _from_alpha_bar(np.cumprod(1.0 - betas))


def cosine_schedule(num_steps: int = 1000, s: float = 0.008) -> Schedule:
    """Nichol & Dhariwal (2021): alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), betas capped at 0.999."""
    t = np.arange(num_steps + 1, dtype=np.float64) / num_steps
    f = np.cos((t + s) / (1 + s) * np.pi / 2) ** 2
    return _from_alpha_bar(f[1:] / f[0])


SCHEDULES = {"cosine": cosine_schedule, "linear": linear_schedule}


def get_schedule(name: str, num_steps: int) -> Schedule:
    if name not in SCHEDULES:
        raise KeyError(f"unknown schedule {name!r} (known: {sorted(SCHEDULES)})")
    return SCHEDULES[name](num_steps)
