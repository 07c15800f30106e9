"""The apprentice: the base text-to-image model conditioned on 1-K demonstration images of a subject.

A demonstration reaches the UNet by one or both of two paths (`apprentice.demo_path`: clip, unet or both):
- clip: the frozen CLIP image embedding of the image (`apprentice.encoder.DemoEncoder`), as `tokens_per_demo`
  context tokens per demonstration (a projection of the embedding plus a learned embedding of which demonstration it
  is), appended after the prompt's text tokens and masked where a slot is empty, and globally: the mean embedding of
  the present demonstrations, projected to the width of the timestep embedding, which every residual block reads as
  a scale and shift (FiLM). Cheap, but the small CLIP's 128-d embedding barely holds identity (a linear probe reads
  the pattern from it at 0.72, class and colour at 0.98);
- unet (Re-Imagen's): the demonstration's feature maps, trained end to end. Its pixels are encoded by the UNet's own
  down path at t = 0 under a learned caption token (`apprentice.map_encoder` shared, Re-Imagen's choice) or by a
  light encoder of the same shape (light, `models.unet.ReferenceEncoder`), and every attention block at the sides
  `apprentice.map_resolutions` (16 x 16 and 8 x 8 at 32 px, and the 4 x 4 core) attends to the maps of all present
  demonstrations at its side (maps finer than `apprentice.map_key_side` average-pooled to it as keys). Clean
  demonstrations give the same maps at every sampler step: `condition` computes them once per sampling call, and
  each step is one pass of the generating UNet.
Optionally (`apprentice.demo_patch` = p > 0) its pixels also enter as one context token per p x p patch (a linear
projection plus a learned position). Further cross-attention blocks (`apprentice.cross_attention_resolutions`,
`training.with_attention`) let the UNet read the context tokens at finer feature maps than the base model does.

Every path of an empty demonstration set adds exactly nothing (masked tokens; a zero global term; reference
attention off where an example has no demonstration), so at zero demonstrations the apprentice is the text-to-image
model it holds; the global projection and the new attention blocks' outputs start at zero, so an untrained
apprentice denoises as that model does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from suti.diffusion.samplers import guided
from suti.models.t2i import TextToImage, append_context
from suti.models.unet import ReferenceEncoder, pool_references, space_to_depth

DEMO_PATHS = ("clip", "unet", "both")  # apprentice.demo_path
MAP_ENCODERS = ("shared", "light")      # apprentice.map_encoder: what encodes the unet path's feature maps

# (tokens [B, L, D], mask [B, L], global condition [B, E], reference maps {side: (features [B, N, C], mask [B, N])}):
# what the apprentice denoises under
Condition = tuple[jax.Array, jax.Array, jax.Array, dict]


def needs_pixels(demo_path: str, demo_patch: int) -> bool:
    """Whether a demonstration's features carry its pixels (`DemoEncoder` pixels): for patches or feature maps."""
    return bool(demo_patch) or demo_path != "clip"


class Apprentice(nnx.Module):
    def __init__(self, base: TextToImage, max_demos: int, demo_dim: int, rngs: nnx.Rngs, tokens_per_demo: int = 4,
                 demo_patch: int = 0, demo_path: str = "clip", map_encoder: str = "shared"):
        """demo_dim: a demonstration's feature width (`DemoEncoder.dim`); where `needs_pixels` its last R*R*3 values
        are its pixels at the model's resolution R. demo_path unet or both needs a base UNet with
        `reference_resolutions` (`training.with_attention`)."""
        if demo_path not in DEMO_PATHS or map_encoder not in MAP_ENCODERS:
            raise ValueError(f"apprentice.demo_path must be one of {DEMO_PATHS} and apprentice.map_encoder one of "
                             f"{MAP_ENCODERS}, got {demo_path!r}, {map_encoder!r}")
        self.base = base
        self.max_demos, self.tokens_per_demo, self.demo_patch = max_demos, tokens_per_demo, demo_patch
        self.demo_path, self.map_encoder = demo_path, map_encoder
        unet = base.unet.cfg
        dim, side = unet.context_dim, unet.resolution
        self.pixel_dim = 3 * side * side if needs_pixels(demo_path, demo_patch) else 0
        clip_dim = demo_dim - self.pixel_dim
        if demo_path != "unet":
            self.demo_norm = nnx.LayerNorm(clip_dim, rngs=rngs)
            self.demo_proj = nnx.Linear(clip_dim, tokens_per_demo * dim, rngs=rngs)
            self.demo_slot = nnx.Param(0.02 * jax.random.normal(rngs.params(), (max_demos, 1, dim)))
            self.demo_film = nnx.Linear(clip_dim, base.unet.embed_dim, kernel_init=nnx.initializers.zeros, rngs=rngs)
        else:
            self.demo_norm = self.demo_proj = self.demo_slot = self.demo_film = None
        if demo_path != "clip" and not unet.reference_resolutions:
            raise ValueError("apprentice.demo_path unet needs a UNet with reference_resolutions")
        maps, light = demo_path != "clip", map_encoder == "light"
        self.reference_encoder = ReferenceEncoder(unet, rngs) if maps and light else None
        # the caption the shared down path encodes a demonstration under (curated demonstrations have none)
        self.demo_caption = (nnx.Param(0.02 * jax.random.normal(rngs.params(), (1, 1, dim))) if maps and not light
                             else None)
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
        parts = []
        if self.demo_proj is not None:
            parts.append(self.demo_proj(self.demo_norm(clip)).reshape(b, k, self.tokens_per_demo, -1))
        if self.demo_patch:
            parts.append(self.patch_proj(self._patches(pixels)) + self.patch_pos[...])
        if not parts:
            return jnp.zeros((b, 0, self.base.unet.cfg.context_dim)), jnp.zeros((b, 0), bool)
        tokens = jnp.concatenate(parts, axis=2)
        if self.demo_slot is not None:
            tokens = tokens + self.demo_slot[None, :k]
        per_demo = tokens.shape[2]
        return tokens.reshape(b, k * per_demo, -1), jnp.repeat(demo_mask, per_demo, axis=1)

    def reference_maps(self, demos: jax.Array, demo_mask: jax.Array) -> dict:
        """{side: (features [B, K * cells, C], mask [B, K * cells])}: every demonstration slot's feature maps (the
        unet path; {} on the clip path; cells = side^2, or reference_key_side^2 above it), masked where a slot is
        empty."""
        if self.demo_path == "clip":
            return {}
        b, k, _ = demos.shape
        side = self.base.unet.cfg.resolution
        images = self._split(demos)[1].reshape(b * k, side, side, 3)
        if self.reference_encoder is not None:
            maps = self.reference_encoder(images)
        else:
            caption = jnp.broadcast_to(self.demo_caption[...], (b * k, 1, self.demo_caption.shape[-1]))
            maps = self.base.unet.encode_references(images, caption, jnp.ones((b * k, 1), bool))
        maps = pool_references(maps, self.base.unet.cfg.reference_key_side)
        return {s: (f.reshape(b, k * f.shape[1], f.shape[2]), jnp.repeat(demo_mask, f.shape[1], axis=1))
                for s, f in maps.items()}

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
        """[B, E_temb]: the projected mean of the present demonstrations' embeddings (zero where none, and on the
        unet path)."""
        if self.demo_film is None:
            return jnp.zeros((demos.shape[0], self.base.unet.embed_dim), demos.dtype)
        clip, _ = self._split(demos)
        weight = demo_mask[..., None].astype(demos.dtype)
        mean = (self.demo_norm(clip) * weight).sum(1) / jnp.maximum(weight.sum(1), 1.0)
        return self.demo_film(mean) * (weight.sum(1) > 0)

    def condition(self, tokens: jax.Array, demos: jax.Array, demo_mask: jax.Array) -> Condition:
        """The prompt's text context with the demonstration tokens appended, the global demonstration term and the
        demonstrations' feature maps."""
        extra, extra_mask = self.demo_tokens(demos, demo_mask)
        context, mask = append_context(self.base.encode_text(tokens), extra, extra_mask)
        return context, mask, self.demo_condition(demos, demo_mask), self.reference_maps(demos, demo_mask)

    def __call__(self, x_t: jax.Array, t: jax.Array, cond: Condition) -> jax.Array:
        tokens, mask, demo_cond, refs = cond
        return self.base.unet(x_t, t, tokens, mask, demo_cond, refs)


def guided_apprentice(model: Apprentice, tokens, demos, demo_mask, null_tokens, scale: float):
    """denoise(x_t, t) of `model` under classifier-free guidance over text and demonstrations together: the null
    condition is the empty caption (`null_tokens`, shaped like `tokens`) with no demonstration, the condition dropped
    in training. Sampling and guidance distillation's teacher both denoise this way."""
    cond = model.condition(tokens, demos, demo_mask)
    null = model.condition(null_tokens, demos, jnp.zeros_like(demo_mask))
    return guided(model, cond, null, scale)
