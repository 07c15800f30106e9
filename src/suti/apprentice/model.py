"""The apprentice: the base text-to-image model conditioned on 1-K demonstration images of a subject.

Demonstrations become context tokens (Re-Imagen's recipe): each clean demonstration image, with its caption as
cross-attention context, goes through the UNet's own down path at t = 0; the lowest-resolution feature map
([h, w, C], 4 x 4 at the default size) is projected to the context width, one token per position, plus a learned
embedding of which demonstration it is. The tokens are appended after the target prompt's text tokens
(`suti.models.t2i.append_context`), masked where a demonstration slot is empty. With every slot empty the context is
exactly the text-only context, so the apprentice at zero demonstrations is the text-to-image model it started from.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from suti.models.t2i import Context, TextToImage, append_context


class Apprentice(nnx.Module):
    def __init__(self, base: TextToImage, max_demos: int, rngs: nnx.Rngs):
        self.base = base
        self.max_demos = max_demos
        channels = base.unet.cfg.channels * base.unet.cfg.channel_mult[-1]
        dim = base.unet.cfg.context_dim
        self.demo_proj = nnx.Linear(channels, dim, rngs=rngs)
        self.demo_slot = nnx.Param(0.02 * jax.random.normal(rngs.params(), (max_demos, 1, dim)))

    def encode_text(self, tokens: jax.Array) -> Context:
        return self.base.encode_text(tokens)

    def demo_tokens(self, demos: jax.Array, demo_tokens: jax.Array, demo_mask: jax.Array):
        """Context tokens of the demonstrations.

        Args:
          demos: [B, K, H, W, 3] clean images in [-1, 1] (K = max_demos; empty slots hold anything).
          demo_tokens: [B, K, L] token ids of each demonstration's caption.
          demo_mask: [B, K] bool, True where a slot holds a demonstration.
        Returns:
          (tokens [B, K*T, D], mask [B, K*T]) with T feature positions per demonstration.
        """
        b, k = demo_mask.shape
        flat = demos.reshape((b * k,) + demos.shape[2:])
        caption = self.base.encode_text(demo_tokens.reshape(b * k, -1))
        feats = self.base.unet.encode(flat, jnp.zeros((b * k,), jnp.int32), *caption)  # [B*K, h, w, C]
        t = feats.shape[1] * feats.shape[2]
        tokens = self.demo_proj(feats.reshape(b, k, t, -1)) + self.demo_slot[None, :k]  # [B, K, T, D]
        return tokens.reshape(b, k * t, -1), jnp.repeat(demo_mask, t, axis=1)

    def context(self, tokens: jax.Array, demos, demo_tokens, demo_mask) -> Context:
        """The target prompt's text context with the demonstration tokens appended."""
        extra, extra_mask = self.demo_tokens(demos, demo_tokens, demo_mask)
        return append_context(self.base.encode_text(tokens), extra, extra_mask)

    def __call__(self, x_t: jax.Array, t: jax.Array, context: Context) -> jax.Array:
        return self.base(x_t, t, context)
