"""The apprentice: the base text-to-image model conditioned on 1-K demonstration images of a subject.

Each demonstration arrives as the frozen CLIP image embedding of the image (`apprentice.encoder.DemoEncoder`) and
enters the UNet two ways:
- as context tokens: `tokens_per_demo` tokens per demonstration (a projection of its embedding plus a learned
  embedding of which demonstration it is), appended after the prompt's text tokens and masked where a slot is empty,
  so cross-attention can look up the subject where it draws it;
- globally: the mean embedding of the present demonstrations, projected to the width of the timestep embedding,
  which every residual block reads as a scale and shift (FiLM), the path through which the base model reads its
  pooled prompt;
- optionally (`apprentice.demo_patch` = p > 0) as its own pixels too: one context token per p x p patch (a linear
  projection plus a learned position), for what the small CLIP's embedding drops (a linear probe reads the pattern
  from it at 0.72, class and colour at 0.98). Measured on the former default run (one seed, 3 demonstrations), p = 8
  moved CLIP-I 0.636 -> 0.644, subject accuracy 0.831 -> 0.835 and the probe's pattern accuracy 0.521 -> 0.529:
  within noise, so it is off by default (README, "What limits CLIP-I").
Further cross-attention blocks (`apprentice.cross_attention_resolutions`, `training.with_cross_attention`) let the
UNet read the context tokens at finer feature maps than the base model does.
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
from suti.models.unet import space_to_depth

# (tokens [B, L, D], mask [B, L], global condition [B, E]): what the apprentice denoises under
Condition = tuple[jax.Array, jax.Array, jax.Array]


class Apprentice(nnx.Module):
    def __init__(self, base: TextToImage, max_demos: int, demo_dim: int, rngs: nnx.Rngs, tokens_per_demo: int = 4,
                 demo_patch: int = 0):
        """demo_dim: a demonstration's feature width (`DemoEncoder.dim`); with demo_patch > 0 its last R*R*3 values
        are its pixels at the model's resolution R, cut into (R / demo_patch)^2 patch tokens."""
        self.base = base
        self.max_demos, self.tokens_per_demo, self.demo_patch = max_demos, tokens_per_demo, demo_patch
        dim, side = base.unet.cfg.context_dim, base.unet.cfg.resolution
        self.pixel_dim = 3 * side * side if demo_patch else 0
        clip_dim = demo_dim - self.pixel_dim
        self.demo_norm = nnx.LayerNorm(clip_dim, rngs=rngs)
        self.demo_proj = nnx.Linear(clip_dim, tokens_per_demo * dim, rngs=rngs)
        self.demo_slot = nnx.Param(0.02 * jax.random.normal(rngs.params(), (max_demos, 1, dim)))
        self.demo_film = nnx.Linear(clip_dim, base.unet.embed_dim, kernel_init=nnx.initializers.zeros, rngs=rngs)
        if demo_patch:
            if side % demo_patch:
                raise ValueError(f"apprentice.demo_patch ({demo_patch}) must divide the resolution ({side})")
            self.patch_proj = nnx.Linear(3 * demo_patch ** 2, dim, rngs=rngs)
            self.patch_pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), ((side // demo_patch) ** 2, dim)))

    def encode_text(self, tokens: jax.Array):
        return self.base.encode_text(tokens)

    def demo_tokens(self, demos: jax.Array, demo_mask: jax.Array):
        """Context tokens of the demonstrations.

        Args:
          demos: [B, K, F] demonstration features (K = max_demos; empty slots hold anything).
          demo_mask: [B, K] bool, True where a slot holds a demonstration.
        Returns:
          (tokens [B, K*T, D], mask [B, K*T]) with T = tokens_per_demo, plus the patch tokens with demo_patch.
        """
        b, k, _ = demos.shape
        clip, pixels = self._split(demos)
        tokens = self.demo_proj(self.demo_norm(clip)).reshape(b, k, self.tokens_per_demo, -1)
        if self.demo_patch:
            tokens = jnp.concatenate([tokens, self.patch_proj(self._patches(pixels)) + self.patch_pos[...]], axis=2)
        per_demo = tokens.shape[2]
        tokens = tokens + self.demo_slot[None, :k]
        return tokens.reshape(b, k * per_demo, -1), jnp.repeat(demo_mask, per_demo, axis=1)

    def _split(self, demos: jax.Array):
        """(CLIP embeddings [B, K, E], pixels [B, K, R*R*3] or None) of demonstration features."""
        if not self.pixel_dim:
            return demos, None
        return demos[..., :-self.pixel_dim], demos[..., -self.pixel_dim:]

    def _patches(self, pixels: jax.Array) -> jax.Array:
        """[B, K, R*R*3] -> [B, K, (R/p)^2, p*p*3], row-major over the patch grid (the UNet's `space_to_depth`)."""
        b, k, _ = pixels.shape
        side = self.base.unet.cfg.resolution
        cells = space_to_depth(pixels.reshape(b * k, side, side, 3), self.demo_patch)
        return cells.reshape(b, k, -1, cells.shape[-1])

    def demo_condition(self, demos: jax.Array, demo_mask: jax.Array) -> jax.Array:
        """[B, E_temb]: the projected mean of the present demonstrations' embeddings (zero where none)."""
        clip, _ = self._split(demos)
        weight = demo_mask[..., None].astype(demos.dtype)
        mean = (self.demo_norm(clip) * weight).sum(1) / jnp.maximum(weight.sum(1), 1.0)
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
