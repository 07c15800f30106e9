"""The apprentice: the base text-to-image model conditioned on 1-K demonstration images of a subject.

Each demonstration arrives as the frozen CLIP image embedding of the image (`apprentice.encoder.DemoEncoder`) and
enters the UNet two ways:
- as context tokens: `tokens_per_demo` tokens per demonstration (a projection of its embedding plus a learned
  embedding of which demonstration it is), appended after the prompt's text tokens and masked where a slot is empty,
  so cross-attention can look up the subject where it draws it;
- globally: the mean embedding of the present demonstrations, projected to the width of the timestep embedding,
  which every residual block reads as a scale and shift (FiLM), the path through which the base model reads its
  pooled prompt.
What decides whether the demonstrations are read is the training more than this wiring (default run, 3
demonstrations, subject accuracy): trained on the experts' samples alone this apprentice reads 0.42, as the former
one did (UNet down-path tokens, cross-attention only: 0.41; the base model: 0.45); pretrained in context on the
mined clusters first, 0.61 (`train_apprentice` stage).

Both projections of an empty demonstration set are exactly nothing (masked tokens; a zero global term), so at zero
demonstrations the apprentice is the text-to-image model it holds; the global projection starts at zero, so an
untrained apprentice hears demonstrations through cross-attention only.

Why frozen CLIP embeddings and not the UNet's own down path (Re-Imagen's choice): a linear probe on 4,000 corpus
images reads colour from the CLIP embedding at 0.95, from the base UNet's 4 x 4 features at t = 0 at 0.72; and
frozen embeddings are computed once per image, so a training step costs what a text-to-image step costs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from suti.diffusion.samplers import guided
from suti.models.t2i import TextToImage, append_context

# (tokens [B, L, D], mask [B, L], global condition [B, E]): what the apprentice denoises under
Condition = tuple[jax.Array, jax.Array, jax.Array]


class Apprentice(nnx.Module):
    def __init__(self, base: TextToImage, max_demos: int, demo_dim: int, rngs: nnx.Rngs, tokens_per_demo: int = 4):
        self.base = base
        self.max_demos, self.tokens_per_demo = max_demos, tokens_per_demo
        dim = base.unet.cfg.context_dim
        self.demo_norm = nnx.LayerNorm(demo_dim, rngs=rngs)
        self.demo_proj = nnx.Linear(demo_dim, tokens_per_demo * dim, rngs=rngs)
        self.demo_slot = nnx.Param(0.02 * jax.random.normal(rngs.params(), (max_demos, 1, dim)))
        self.demo_film = nnx.Linear(demo_dim, base.unet.embed_dim, kernel_init=nnx.initializers.zeros, rngs=rngs)

    def encode_text(self, tokens: jax.Array):
        return self.base.encode_text(tokens)

    def demo_tokens(self, demos: jax.Array, demo_mask: jax.Array):
        """Context tokens of the demonstrations.

        Args:
          demos: [B, K, E] CLIP image embeddings (K = max_demos; empty slots hold anything).
          demo_mask: [B, K] bool, True where a slot holds a demonstration.
        Returns:
          (tokens [B, K*T, D], mask [B, K*T]) with T = tokens_per_demo.
        """
        b, k, _ = demos.shape
        tokens = self.demo_proj(self.demo_norm(demos)).reshape(b, k, self.tokens_per_demo, -1)
        tokens = tokens + self.demo_slot[None, :k]
        return tokens.reshape(b, k * self.tokens_per_demo, -1), jnp.repeat(demo_mask, self.tokens_per_demo, axis=1)

    def demo_condition(self, demos: jax.Array, demo_mask: jax.Array) -> jax.Array:
        """[B, E_temb]: the projected mean of the present demonstrations' embeddings (zero where none)."""
        weight = demo_mask[..., None].astype(demos.dtype)
        mean = (self.demo_norm(demos) * weight).sum(1) / jnp.maximum(weight.sum(1), 1.0)
        return self.demo_film(mean) * (weight.sum(1) > 0)

    def condition(self, tokens: jax.Array, demos: jax.Array, demo_mask: jax.Array) -> Condition:
        """The prompt's text context with the demonstration tokens appended, and the global demonstration term."""
        extra, extra_mask = self.demo_tokens(demos, demo_mask)
        context, mask = append_context(self.base.encode_text(tokens), extra, extra_mask)
        return context, mask, self.demo_condition(demos, demo_mask)

    def __call__(self, x_t: jax.Array, t: jax.Array, cond: Condition) -> jax.Array:
        tokens, mask, demo_cond = cond
        return self.base.unet(x_t, t, tokens, mask, demo_cond)


def guided_apprentice(model: Apprentice, tokens, demos, demo_mask, null_tokens, scale: float):
    """denoise(x_t, t) of `model` under classifier-free guidance over text and demonstrations together: the null
    condition is the empty caption (`null_tokens`, shaped like `tokens`) with no demonstration, the condition dropped
    in training. Sampling and guidance distillation's teacher both denoise this way."""
    cond = model.condition(tokens, demos, demo_mask)
    null = model.condition(null_tokens, demos, jnp.zeros_like(demo_mask))
    return guided(model, cond, null, scale)
