"""The text-to-image model: text encoder + UNet, with a context interface open to extra tokens.

`context = (tokens [B, L, D], mask [B, L])`. `append_context` concatenates further tokens after the text tokens
(the apprentice appends demonstration tokens there); the UNet attends to all of them through the same mask.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from suti.models.clip_text import ClipTextEncoder, ClipTokenizer
from suti.models.layers import FrozenParam
from suti.models.text import TextEncoder, Tokenizer
from suti.models.unet import UNet, UNetConfig

Context = tuple[jax.Array, jax.Array]


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    unet: UNetConfig = UNetConfig()
    text_encoder: str = "learned"   # learned (trained with the UNet) | clip (a frozen CLIP text tower's features)
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4
    max_tokens: int = 16


class TextToImage(nnx.Module):
    def __init__(self, cfg: ModelConfig, vocab_size: int, rngs: nnx.Rngs):
        if cfg.unet.context_dim != cfg.text_dim:
            raise ValueError(f"unet.context_dim ({cfg.unet.context_dim}) must equal text_dim ({cfg.text_dim})")
        if cfg.text_encoder == "clip":
            self.text = ClipTextEncoder(vocab_size, cfg.max_tokens, cfg.text_dim, cfg.text_layers, cfg.text_heads)
        elif cfg.text_encoder == "learned":
            self.text = TextEncoder(vocab_size, cfg.max_tokens, cfg.text_dim, cfg.text_layers, cfg.text_heads, rngs)
        else:
            raise ValueError(f"text_encoder must be 'learned' or 'clip', got {cfg.text_encoder!r}")
        self.unet = UNet(cfg.unet, rngs)

    def encode_text(self, tokens: jax.Array) -> Context:
        return self.text(tokens)

    def __call__(self, x_t: jax.Array, t: jax.Array, context: Context) -> jax.Array:
        tokens, mask = context
        return self.unet(x_t, t, tokens, mask)


def build_tokenizer(cfg: ModelConfig, texts: list[str]):
    """The tokenizer of a model that trains on `texts`: words (learned encoder) or CLIP BPE rows (clip)."""
    if cfg.text_encoder == "clip":
        return ClipTokenizer.build(texts, cfg.max_tokens)
    return Tokenizer.build(texts, cfg.max_tokens)


def append_context(context: Context, extra: jax.Array, extra_mask: jax.Array | None = None) -> Context:
    """Context with `extra` tokens [B, M, D] after the existing ones (all attended unless `extra_mask` says not)."""
    tokens, mask = context
    if extra_mask is None:
        extra_mask = jnp.ones(extra.shape[:2], bool)
    return jnp.concatenate([tokens, extra], axis=1), jnp.concatenate([mask, extra_mask], axis=1)


def count_params(module: nnx.Module) -> int:
    """Trained parameters (a frozen text tower's weights not counted)."""
    return param_counts(nnx.state(module, nnx.Param))[0]


def param_counts(params) -> tuple[int, int]:
    """(trained, frozen) parameter counts of a params state."""
    counts = [0, 0]
    for v in jax.tree.leaves(params, is_leaf=lambda x: isinstance(x, nnx.Variable)):
        counts[isinstance(v, FrozenParam)] += int(v.size)
    return counts[0], counts[1]
