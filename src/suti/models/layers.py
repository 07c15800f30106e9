"""Small building blocks shared by the models: attention with key masks, timestep embeddings."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx


def attend(q: jax.Array, k: jax.Array, v: jax.Array, heads: int, mask: jax.Array | None = None) -> jax.Array:
    """Multi-head scaled dot-product attention.

    q: [B, Lq, C]; k, v: [B, Lk, C]; mask: [B, Lk] bool (True = attend) or None. Returns [B, Lq, C].
    """
    b, lq, c = q.shape
    d = c // heads
    q, k, v = (x.reshape(x.shape[0], x.shape[1], heads, d) for x in (q, k, v))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d)
    if mask is not None:
        logits = jnp.where(mask[:, None, None, :], logits, jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits, axis=-1)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, lq, c)


def timestep_embedding(t: jax.Array, dim: int, max_period: float = 10_000.0) -> jax.Array:
    """Sinusoidal embedding of (integer or real) timesteps t [B] -> [B, dim]."""
    half = dim // 2
    freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    args = t.astype(jnp.float32)[:, None] * freqs[None]
    return jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)


class MLP(nnx.Module):
    def __init__(self, dim: int, hidden: int, rngs: nnx.Rngs):
        self.fc1 = nnx.Linear(dim, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, dim, rngs=rngs)

    def __call__(self, x):
        return self.fc2(jax.nn.gelu(self.fc1(x)))


def groups(channels: int) -> int:
    """GroupNorm groups: 8 where channels allow, fewer for narrow layers."""
    return math.gcd(8, channels)


class FrozenParam(nnx.Param):
    """A pretrained parameter that stays as it is: optimisers give it no update (`training.optim.trainable_only`)
    and models read it behind `stop_gradient`. A Param, so `nnx.split(model, nnx.Param)` still carries it."""
