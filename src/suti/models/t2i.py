"""The text-to-image model: text encoder + UNet, with a context interface open to extra tokens.

`context = (tokens [B, L, D], mask [B, L])`. `append_context` concatenates further tokens after the text tokens
(the apprentice appends demonstration tokens there); the UNet attends to all of them through the same mask.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from suti.models.text import TextEncoder
from suti.models.unet import UNet, UNetConfig

Context = tuple[jax.Array, jax.Array]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    unet: UNetConfig = UNetConfig()
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4
    max_tokens: int = 16


class TextToImage(nnx.Module):
    def __init__(self, cfg: ModelConfig, vocab_size: int, rngs: nnx.Rngs):
        if cfg.unet.context_dim != cfg.text_dim:
            raise ValueError(f"unet.context_dim ({cfg.unet.context_dim}) must equal text_dim ({cfg.text_dim})")
        self.text = TextEncoder(vocab_size, cfg.max_tokens, cfg.text_dim, cfg.text_layers, cfg.text_heads, rngs)
        self.unet = UNet(cfg.unet, rngs)

    def encode_text(self, tokens: jax.Array) -> Context:
        return self.text(tokens)

    def __call__(self, x_t: jax.Array, t: jax.Array, context: Context) -> jax.Array:
        tokens, mask = context
        return self.unet(x_t, t, tokens, mask)


def append_context(context: Context, extra: jax.Array, extra_mask: jax.Array | None = None) -> Context:
    """Context with `extra` tokens [B, M, D] after the existing ones (all attended unless `extra_mask` says not)."""
    tokens, mask = context
    if extra_mask is None:
        extra_mask = jnp.ones(extra.shape[:2], bool)
    return jnp.concatenate([tokens, extra], axis=1), jnp.concatenate([mask, extra_mask], axis=1)


def count_params(module: nnx.Module) -> int:
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))
