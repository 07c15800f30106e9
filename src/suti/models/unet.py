"""A UNet for diffusion: timestep embedding, residual blocks, self-attention at low resolutions and
cross-attention over a sequence of context tokens (text tokens, plus any tokens a later model appends), and
optionally attention to reference feature maps (`reference_resolutions`: Re-Imagen's attention to its neighbours'
features, which the apprentice gives its demonstrations).

Interface: `unet(x_t [B,H,W,C], t [B], context [B,L,D], context_mask [B,L][, cond [B,E][, refs]]) -> [B,H,W,C]`,
refs `{side: (features [B, N, C_side], mask [B, N])}` (see `encode_references`). The context
also enters globally: a pooled context vector (the masked mean, or the text's end-of-text feature) joins the timestep
embedding, which every residual block reads as a bias or, with `film`, as a scale and shift of its normalised features
(adaptive GroupNorm, as improved DDPM and DiT condition on class). `cond`, if given, is added to that embedding: a
later model's own global condition (the apprentice's pooled demonstrations).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

from suti.models.layers import attend, groups, timestep_embedding


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    resolution: int = 32
    channels: int = 64                         # base width
    channel_mult: tuple[int, ...] = (1, 2)     # width multiplier per level; each level after the first halves H, W
    num_res_blocks: int = 1                    # per level on the way down (one more on the way up)
    attention_resolutions: tuple[int, ...] = (8, 4)      # self-attention at these feature-map sides
    cross_attention_resolutions: tuple[int, ...] = (8, 4)   # cross-attention over context at these sides
    heads: int = 4
    context_dim: int = 64
    patch_size: int = 4                        # >1: pixel-unshuffle the input (and shuffle back the output) so the
                                               # network runs on a grid patch_size times smaller: far cheaper on CPU
    film: bool = False                         # residual blocks scale and shift their normalised features by the
                                               # timestep + pooled-context embedding (adaptive GroupNorm)
    pool: str = "mean"                         # pooled context: "mean" of the attended tokens, or "eot": the last
                                               # attended token among the first `text_tokens` (a causal CLIP text
                                               # tower's end-of-text feature, what its contrastive loss shapes)
    text_tokens: int = 0                       # with pool "eot": how many leading context tokens are text (tokens
                                               # appended after them, e.g. demonstrations, are not pooled)
    reference_resolutions: tuple[int, ...] = ()  # sides where every attention block also attends to reference
                                                 # feature maps of its own width (new blocks' outputs start at zero)
    reference_key_side: int = 0  # reference maps finer than this are average-pooled to it as keys (0 = never):
                                 # the queries keep their side, the attention's cost falls by the pooled area


class ResBlock(nnx.Module):
    def __init__(self, cin: int, cout: int, temb: int, rngs: nnx.Rngs, film: bool = False):
        self.film = film
        self.norm1 = nnx.GroupNorm(cin, groups(cin), rngs=rngs)
        self.conv1 = nnx.Conv(cin, cout, (3, 3), rngs=rngs)
        self.temb = nnx.Linear(temb, 2 * cout if film else cout, rngs=rngs)
        self.norm2 = nnx.GroupNorm(cout, groups(cout), rngs=rngs)
        self.conv2 = nnx.Conv(cout, cout, (3, 3), kernel_init=nnx.initializers.zeros, rngs=rngs)
        self.skip = nnx.Conv(cin, cout, (1, 1), rngs=rngs) if cin != cout else None

    def __call__(self, x, temb):
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        emb = self.temb(jax.nn.silu(temb))[:, None, None, :]
        if self.film:  # adaptive GroupNorm: the condition multiplies features, not only shifts them
            scale, shift = jnp.split(emb, 2, axis=-1)
            h = self.norm2(h) * (1.0 + scale) + shift
        else:
            h = self.norm2(h + emb)
        h = self.conv2(jax.nn.silu(h))
        return h + (x if self.skip is None else self.skip(x))


class AttentionBlock(nnx.Module):
    """Self-attention over pixels, cross-attention from pixels to context tokens (masked) and/or attention from pixels
    to reference feature maps of the same side and width (masked; an example with no reference adds nothing)."""

    def __init__(self, channels: int, context_dim: int, heads: int, self_attn: bool, cross_attn: bool,
                 rngs: nnx.Rngs, ref_attn: bool = False):
        self.heads = heads
        self.norm = nnx.GroupNorm(channels, groups(channels), rngs=rngs)
        zeros = nnx.initializers.zeros
        self.qkv = nnx.Linear(channels, 3 * channels, rngs=rngs) if self_attn else None
        self.self_out = nnx.Linear(channels, channels, kernel_init=zeros, rngs=rngs) if self_attn else None
        if cross_attn:
            self.cross_norm = nnx.LayerNorm(channels, rngs=rngs)
            self.q = nnx.Linear(channels, channels, rngs=rngs)
            self.kv = nnx.Linear(context_dim, 2 * channels, rngs=rngs)
            self.cross_out = nnx.Linear(channels, channels, kernel_init=zeros, rngs=rngs)
        else:
            self.cross_norm = self.q = self.kv = self.cross_out = None
        if ref_attn:
            self.ref_norm = nnx.LayerNorm(channels, rngs=rngs)
            self.ref_feature_norm = nnx.LayerNorm(channels, rngs=rngs)
            self.ref_q = nnx.Linear(channels, channels, rngs=rngs)
            self.ref_kv = nnx.Linear(channels, 2 * channels, rngs=rngs)
            self.ref_out = nnx.Linear(channels, channels, kernel_init=zeros, rngs=rngs)
        else:
            self.ref_norm = self.ref_feature_norm = self.ref_q = self.ref_kv = self.ref_out = None

    def __call__(self, x, context, context_mask, refs=None):
        """refs: {side: (features [B, N, C], mask [B, N])}; this block reads its own side's, if it attends to any."""
        b, h, w, c = x.shape
        tokens = self.norm(x).reshape(b, h * w, c)
        out = x.reshape(b, h * w, c)
        if self.qkv is not None:
            q, k, v = jnp.split(self.qkv(tokens), 3, axis=-1)
            out = out + self.self_out(attend(q, k, v, self.heads))
            tokens = out
        if self.q is not None:
            k, v = jnp.split(self.kv(context), 2, axis=-1)
            out = out + self.cross_out(attend(self.q(self.cross_norm(tokens)), k, v, self.heads, context_mask))
        if self.ref_q is not None and refs and h in refs:
            features, mask = refs[h]
            k, v = jnp.split(self.ref_kv(self.ref_feature_norm(features)), 2, axis=-1)
            # one head: on a CPU the logits (queries x K demonstrations' cells), not the FLOPs, bound its cost
            read = self.ref_out(attend(self.ref_q(self.ref_norm(out)), k, v, 1, mask))
            out = out + read * mask.any(axis=1)[:, None, None]
        return out.reshape(b, h, w, c)


def _attention(cfg: UNetConfig, side: int, channels: int, rngs) -> AttentionBlock | None:
    self_attn, cross_attn = side in cfg.attention_resolutions, side in cfg.cross_attention_resolutions
    ref_attn = side in cfg.reference_resolutions
    if not (self_attn or cross_attn or ref_attn):
        return None
    return AttentionBlock(channels, cfg.context_dim, cfg.heads, self_attn, cross_attn, rngs, ref_attn)


class Level(nnx.Module):
    """Residual blocks at one resolution, each followed by its attention block (if any)."""

    def __init__(self, cins: list[int], cout: int, temb: int, attn_fn, rngs: nnx.Rngs, film: bool = False):
        self.res = nnx.List([ResBlock(cin, cout, temb, rngs, film) for cin in cins])
        self.attn = nnx.List([attn_fn() for _ in cins])


class UNet(nnx.Module):
    def __init__(self, cfg: UNetConfig, rngs: nnx.Rngs):
        self.cfg = cfg
        ch, temb = cfg.channels, 4 * cfg.channels
        self.time1 = nnx.Linear(ch, temb, rngs=rngs)
        self.time2 = nnx.Linear(temb, temb, rngs=rngs)
        # the masked mean of the context tokens joins the timestep embedding, so every residual block sees the
        # condition globally (as Imagen's pooled text embedding); cross-attention adds where it matters
        self.context_pool = nnx.Linear(cfg.context_dim, temb, rngs=rngs)
        p = cfg.patch_size
        self.conv_in = nnx.Conv(3 * p * p, ch, (3, 3), rngs=rngs)
        skips, cur, side = [ch], ch, cfg.resolution // p
        down, downsample = [], []
        for i, mult in enumerate(cfg.channel_mult):
            cout = ch * mult
            cins = [cur] + [cout] * (cfg.num_res_blocks - 1)
            down.append(Level(cins, cout, temb, lambda c=cout, s=side: _attention(cfg, s, c, rngs), rngs,
                              cfg.film))
            skips += [cout] * cfg.num_res_blocks
            cur = cout
            last = i == len(cfg.channel_mult) - 1
            downsample.append(None if last else nnx.Conv(cur, cur, (3, 3), strides=(2, 2), rngs=rngs))
            if not last:
                skips.append(cur)
                side //= 2
        self.down, self.downsample = nnx.List(down), nnx.List(downsample)
        self.mid1 = ResBlock(cur, cur, temb, rngs, cfg.film)
        self.mid_attn = AttentionBlock(cur, cfg.context_dim, cfg.heads, True, True, rngs,
                                       side in cfg.reference_resolutions)
        self.mid2 = ResBlock(cur, cur, temb, rngs, cfg.film)
        up, upsample = [], []
        for i, mult in reversed(list(enumerate(cfg.channel_mult))):
            cout = ch * mult
            cins = []
            for _ in range(cfg.num_res_blocks + 1):
                cins.append(cur + skips.pop())
                cur = cout
            up.append(Level(cins, cout, temb, lambda c=cout, s=side: _attention(cfg, s, c, rngs), rngs,
                              cfg.film))
            upsample.append(nnx.Conv(cur, cur, (3, 3), rngs=rngs) if i > 0 else None)
            side = side * 2 if i > 0 else side
        self.up, self.upsample = nnx.List(up), nnx.List(upsample)
        self.norm_out = nnx.GroupNorm(cur, groups(cur), rngs=rngs)
        self.conv_out = nnx.Conv(cur, 3 * p * p, (3, 3), kernel_init=nnx.initializers.zeros, rngs=rngs)

    def _embed(self, t, context, context_mask):
        """Timestep embedding plus the pooled context [B, temb]."""
        temb = self.time2(jax.nn.silu(self.time1(timestep_embedding(t, self.cfg.channels))))
        return temb + self.context_pool(pool_context(context, context_mask, self.cfg.pool, self.cfg.text_tokens))

    def _down(self, x, temb, context, context_mask, refs=None):
        """The down path: (features at the lowest resolution, skip activations, {side: each level's output})."""
        h = self.conv_in(space_to_depth(x, self.cfg.patch_size))
        hs, levels = [h], {}
        for level, down in zip(self.down, self.downsample):
            for res, attn in zip(level.res, level.attn):
                h = res(h, temb)
                h = h if attn is None else attn(h, context, context_mask, refs)
                hs.append(h)
            levels[h.shape[1]] = h
            if down is not None:
                h = down(h)
                hs.append(h)
        return h, hs, levels

    def encode_references(self, images, context, context_mask) -> dict[int, jax.Array]:
        """{side: [N, side * side, C]} for each of `reference_resolutions`: clean images' (in [-1, 1]) down-path
        features at t = 0 under `context`, each level's output. Re-Imagen encodes its neighbours so, with the
        generating UNet's own weights, and the generating UNet attends to them (`__call__`'s refs)."""
        temb = self._embed(jnp.zeros(images.shape[0], jnp.int32), context, context_mask)
        _, _, levels = self._down(images, temb, context, context_mask)
        return {s: f.reshape(f.shape[0], s * s, f.shape[-1]) for s, f in levels.items()
                if s in self.cfg.reference_resolutions}

    @property
    def embed_dim(self) -> int:
        """Width of the timestep-and-condition embedding every residual block reads."""
        return 4 * self.cfg.channels

    def __call__(self, x, t, context, context_mask, cond=None, refs=None):
        temb = self._embed(t, context, context_mask)
        if cond is not None:
            temb = temb + cond
        h, hs, _ = self._down(x, temb, context, context_mask, refs)
        h = self.mid2(self.mid_attn(self.mid1(h, temb), context, context_mask, refs), temb)
        for level, up in zip(self.up, self.upsample):
            for res, attn in zip(level.res, level.attn):
                h = res(jnp.concatenate([h, hs.pop()], axis=-1), temb)
                h = h if attn is None else attn(h, context, context_mask, refs)
            if up is not None:
                h = up(jax.image.resize(h, (h.shape[0], h.shape[1] * 2, h.shape[2] * 2, h.shape[3]), "nearest"))
        return depth_to_space(self.conv_out(jax.nn.silu(self.norm_out(h))), self.cfg.patch_size)


def pool_references(maps: dict[int, jax.Array], key_side: int) -> dict[int, jax.Array]:
    """{side: [N, side^2, C]} -> the same with every side above `key_side` (> 0) average-pooled to key_side^2 cells
    (spatial-reduction attention's keys: PVT, Wang et al. 2021)."""
    out = {}
    for side, f in maps.items():
        if key_side and side > key_side:
            n, _, c = f.shape
            r = side // key_side
            f = f.reshape(n, key_side, r, key_side, r, c).mean(axis=(2, 4)).reshape(n, key_side * key_side, c)
        out[side] = f
    return out


class ReferenceEncoder(nnx.Module):
    """A light trained encoder of the UNet down path's shape: per level one residual block (no timestep, text or
    attention), its output at the level's side and width. `UNet.encode_references`' feature maps from weights of
    its own, at a fraction of the down path's cost."""

    def __init__(self, cfg: UNetConfig, rngs: nnx.Rngs):
        self.cfg = cfg
        ch, last = cfg.channels, len(cfg.channel_mult) - 1
        self.conv_in = nnx.Conv(3 * cfg.patch_size ** 2, ch, (3, 3), rngs=rngs)
        blocks, downs, cur = [], [], ch
        for i, mult in enumerate(cfg.channel_mult):
            blocks.append(ResBlock(cur, ch * mult, 1, rngs))
            cur = ch * mult
            downs.append(nnx.Conv(cur, cur, (3, 3), strides=(2, 2), rngs=rngs) if i < last else None)
        self.blocks, self.downs = nnx.List(blocks), nnx.List(downs)

    def __call__(self, images) -> dict[int, jax.Array]:
        """images [N, R, R, 3] in [-1, 1] -> {side: [N, side * side, C]} (as `UNet.encode_references`)."""
        h = self.conv_in(space_to_depth(images, self.cfg.patch_size))
        no_time = jnp.zeros((images.shape[0], 1), h.dtype)
        out = {}
        for block, down in zip(self.blocks, self.downs):
            h = block(h, no_time)
            side = h.shape[1]
            if side in self.cfg.reference_resolutions:
                out[side] = h.reshape(h.shape[0], side * side, h.shape[-1])
            if down is not None:
                h = down(h)
        return out


def pool_context(context: jax.Array, mask: jax.Array, how: str, text_tokens: int = 0) -> jax.Array:
    """[B, L, D] tokens, [B, L] mask -> [B, D]: the masked mean ("mean"), or the last attended token among the first
    `text_tokens` ("eot"; the end-of-text feature of a causal text tower, whose mask ends there)."""
    if how == "eot":
        text_mask = mask[:, :text_tokens]
        last = text_mask.shape[1] - 1 - jnp.argmax(text_mask[:, ::-1], axis=1)  # [B]
        return context[jnp.arange(context.shape[0]), last]
    if how != "mean":
        raise ValueError(f"unet.pool must be 'mean' or 'eot', got {how!r}")
    weights = mask[..., None].astype(context.dtype)
    return (context * weights).sum(1) / jnp.maximum(weights.sum(1), 1.0)


def space_to_depth(x: jax.Array, p: int) -> jax.Array:
    """[B, H, W, C] -> [B, H/p, W/p, C*p*p]: each p x p patch becomes one position's channels."""
    if p == 1:
        return x
    b, h, w, c = x.shape
    return x.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h // p, w // p, p * p * c)


def depth_to_space(x: jax.Array, p: int) -> jax.Array:
    """The inverse of `space_to_depth`."""
    if p == 1:
        return x
    b, h, w, cpp = x.shape
    c = cpp // (p * p)
    return x.reshape(b, h, w, p, p, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, h * p, w * p, c)
