"""LoRA adapters for many subject experts that share one base model.

`add_lora(model, n_experts, cfg)` wraps the chosen layers of a model in adapters holding the low-rank factors of
`n_experts` experts at once (a leading expert axis on every factor). Each example in a batch is routed to its own
expert (`with routing(expert_ids): model(...)`), so one forward pass over the concatenated batch runs the shared
base computation once and adds each example's own low-rank delta:

    y = base(x) + (alpha / rank) * up[e] (down[e] x)        for the example's expert e

`up` starts at zero, so a fresh adapter leaves the base model's output unchanged. Convolutions get LoCon-style
adapters: a k x k convolution down to `rank` channels, then a 1 x 1 projection up.

Which layers: `targets` (attention projections, residual-block convolutions) within `blocks` (down, mid, up).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import zlib
from collections.abc import Iterator

import jax
import jax.numpy as jnp
from flax import nnx

from suti.config import schema_default

# The layers adapted for each target name (attribute names inside the UNet's blocks).
TARGETS = {
    "attention": ("qkv", "self_out", "q", "kv", "cross_out", "context_pool"),
    "conv": ("conv1", "conv2"),
}


# The UNet's parts by block. Adapting only the later blocks ("mid", "up") lets back-propagation stop there: the
# down path then runs forward only, which is where most of the per-expert saving comes from on a CPU.
BLOCKS = {
    "down": ("down", "downsample", "context_pool"),    # context pooling feeds every block, so it counts as the first
    "mid": ("mid1", "mid_attn", "mid2"),
    "up": ("up", "upsample"),
}


@dataclasses.dataclass(frozen=True)
class LoRAConfig:
    rank: int = schema_default("experts.lora.rank")
    alpha: float = schema_default("experts.lora.alpha")  # the delta is scaled by alpha / rank
    targets: tuple[str, ...] = schema_default("experts.lora.targets")
    blocks: tuple[str, ...] = schema_default("experts.lora.blocks")


class LoRAParam(nnx.Param):
    """A LoRA factor: split from the base parameters with `nnx.split(model, LoRAParam, nnx.Param)`."""


_ROUTE: list[tuple[jax.Array, bool]] = []


@contextlib.contextmanager
def routing(expert_ids: jax.Array, grouped: bool = False) -> Iterator[None]:
    """Route the examples of the calls inside this block to experts `expert_ids` [B] (ints in [0, n_experts)).

    grouped=True promises the training layout: the batch is n_experts equal runs of consecutive examples, expert 0's
    first. The adapters then multiply each run by its expert's factors in one batched matmul instead of gathering a
    factor per example (the same numbers, several times faster to differentiate on a CPU).
    """
    _ROUTE.append((expert_ids, grouped))
    try:
        yield
    finally:
        _ROUTE.pop()


def _current_route(batch: int) -> tuple[jax.Array, bool]:
    if not _ROUTE:
        raise RuntimeError("a LoRA model was called outside `with lora.routing(expert_ids):`")
    ids, grouped = _ROUTE[-1]
    if ids.shape[0] != batch:
        raise ValueError(f"routing has {ids.shape[0]} expert ids for a batch of {batch}")
    return ids, grouped


def _low_rank(x: jax.Array, down: jax.Array, up: jax.Array) -> jax.Array:
    """up[e] @ down[e] @ x for each example's expert e: x [B, ..., in]; down [K, in, r]; up [K, r, out]."""
    ids, grouped = _current_route(x.shape[0])
    if grouped:
        k = down.shape[0]
        runs = x.reshape(k, -1, x.shape[-1])                                   # [K, (B/K)*..., in]
        out = jnp.einsum("kmr,kro->kmo", jnp.einsum("kmi,kir->kmr", runs, down), up)
        return out.reshape(*x.shape[:-1], up.shape[-1])
    h = jnp.einsum("b...i,bir->b...r", x, down[ids])
    return jnp.einsum("b...r,bro->b...o", h, up[ids])


class LoRALinear(nnx.Module):
    def __init__(self, base: nnx.Linear, n_experts: int, cfg: LoRAConfig, rngs: nnx.Rngs):
        self.base, self.scale = base, cfg.alpha / cfg.rank
        fan_in, fan_out = base.in_features, base.out_features
        init = jax.random.normal(rngs.params(), (n_experts, fan_in, cfg.rank)) / math.sqrt(fan_in)
        self.down = LoRAParam(init)
        self.up = LoRAParam(jnp.zeros((n_experts, cfg.rank, fan_out)))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.base(x) + self.scale * _low_rank(x, self.down[...], self.up[...])


class LoRAConv(nnx.Module):
    """A k x k convolution down to `rank` channels (LoCon), then 1 x 1 up, with per-example expert weights: the
    input's k x k patches are gathered once and each example multiplies them by its own expert's factor."""

    def __init__(self, base: nnx.Conv, n_experts: int, cfg: LoRAConfig, rngs: nnx.Rngs):
        if base.strides not in (1, (1, 1)) or base.padding != "SAME":
            raise ValueError("LoRA convolution adapters support stride-1 'SAME' convolutions")
        self.base, self.scale = base, cfg.alpha / cfg.rank
        kh, kw = base.kernel_size
        fan_in = kh * kw * base.in_features
        self.down = LoRAParam(jax.random.normal(rngs.params(), (n_experts, fan_in, cfg.rank)) / math.sqrt(fan_in))
        self.up = LoRAParam(jnp.zeros((n_experts, cfg.rank, base.out_features)))

    def __call__(self, x: jax.Array) -> jax.Array:
        patches = same_patches(x, self.base.kernel_size)                       # [B, H, W, kh*kw*C]
        return self.base(x) + self.scale * _low_rank(patches, self.down[...], self.up[...])


def same_patches(x: jax.Array, kernel_size: tuple[int, int]) -> jax.Array:
    """[B, H, W, C] -> [B, H, W, kh*kw*C]: each position's k x k neighbourhood ("SAME" padding, stride 1), built from
    shifted slices (on a CPU far cheaper to differentiate than a patch-extracting convolution)."""
    kh, kw = kernel_size
    h, w = x.shape[1:3]
    padded = jnp.pad(x, ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0)))
    return jnp.concatenate([padded[:, i:i + h, j:j + w] for i in range(kh) for j in range(kw)], axis=-1)


def add_lora(model: nnx.Module, n_experts: int, cfg: LoRAConfig, rngs: nnx.Rngs) -> nnx.Module:
    """Wrap the target layers of `model` (in place) in LoRA adapters for `n_experts` experts; returns `model`.

    Pass the UNet (`t2i.unet`): the text encoder stays frozen, as in DreamBooth-LoRA.
    """
    for given, known, what in ((cfg.targets, TARGETS, "targets"), (cfg.blocks, BLOCKS, "blocks")):
        if set(given) - set(known):
            raise ValueError(f"unknown LoRA {what} {sorted(set(given) - set(known))} (known: {sorted(known)})")
    names = {n for t in cfg.targets for n in TARGETS[t]}
    for attr in (a for b in cfg.blocks for a in BLOCKS[b]):
        child = getattr(model, attr)
        if attr in names and isinstance(child, nnx.Linear):   # context_pool sits directly on the UNet
            setattr(model, attr, LoRALinear(child, n_experts, cfg, rngs))
        elif isinstance(child, (nnx.Module, nnx.List)):
            _wrap(child, names, n_experts, cfg, rngs)
    return model


def _wrap(module, names: set[str], n_experts: int, cfg: LoRAConfig, rngs: nnx.Rngs) -> None:
    children = list(enumerate(module)) if isinstance(module, nnx.List) else list(vars(module).items())
    for name, child in children:
        if isinstance(child, (LoRALinear, LoRAConv)):
            continue
        wrapped = None
        if isinstance(name, str) and name in names:
            if isinstance(child, nnx.Linear):
                wrapped = LoRALinear(child, n_experts, cfg, rngs)
            elif isinstance(child, nnx.Conv):
                wrapped = LoRAConv(child, n_experts, cfg, rngs)
        if wrapped is not None:
            setattr(module, name, wrapped)  # only named attributes are targets, never list items
        elif isinstance(child, (nnx.Module, nnx.List)):
            _wrap(child, names, n_experts, cfg, rngs)


def split_lora(model: nnx.Module):
    """(graphdef, lora factors, base params) of a model with adapters."""
    return nnx.split(model, LoRAParam, nnx.Param)


def count_lora_params(lora_state) -> int:
    return sum(x.size for x in jax.tree.leaves(lora_state))


def init_factors(factors, seeds: jax.Array):
    """Per-expert initialisation of stacked factors: expert k's `down` factors drawn from seed k alone (so an expert's
    start does not depend on which other experts share its job), `up` zero."""

    def init(path, x):
        if str(getattr(path[-2], "key", "")) == "up":
            return jnp.zeros_like(x)
        fan_in = math.prod(x.shape[1:-1])
        leaf = zlib.crc32(jax.tree_util.keystr(path).encode()) % (1 << 31)  # a stable stream per layer

        def one(seed):
            key = jax.random.fold_in(jax.random.key(seed), leaf)
            return jax.random.normal(key, x.shape[1:], x.dtype) / math.sqrt(fan_in)

        return jax.vmap(one)(seeds)

    return jax.tree_util.tree_map_with_path(init, factors)
