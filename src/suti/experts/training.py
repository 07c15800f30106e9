"""Many DreamBooth experts at once: fine-tune the base model on each subject's images with class-prior preservation.

Every expert k has its own instance images ("a photo of sks mug") and prior images (the base model's own samples of
"a photo of a mug"), and minimises DreamBooth's loss

    L_k = mean(instance losses) + prior_weight * mean(prior losses).

Modes:
  lora (default): LoRA factors for all K experts of a job, stacked on a leading expert axis; one forward pass over
      the concatenated batch of all experts (each example routed to its own expert's delta) shares the base
      computation. The objective is sum_k L_k, so expert k's gradient is exactly its own; clipping is per expert and
      AdamW is elementwise, so a K-expert step equals K single-expert steps (tested).
  full: the whole model per expert, one expert after another (CPU), or `jax.vmap` over stacked copies (accelerators).

Randomness is per expert: each expert's batches, timesteps, noise and condition dropout come from its own seed and
the step, so an expert trains identically whichever job, shard position or device it lands on.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from suti import streams
from suti.config import from_schema, schema_default
from suti.data.training_set import to_unit_range
from suti.diffusion.config import DiffusionConfig
from suti.diffusion.losses import keep_condition, per_example_loss, sample_t_noise
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import get_schedule
from suti.models import lora
from suti.training.checkpoints import Checkpointer
from suti.training.config import TrainConfig
from suti.training.loop import batch_indices, train_loop
from suti.training.optim import learning_rate_schedule, trainable_only
from suti.training.state import commit_like


@dataclasses.dataclass(frozen=True)
class ExpertConfig:
    mode: str = schema_default("experts.mode")  # lora | full
    strategy: str = schema_default("experts.strategy")  # lora: batched | loop; full: loop | vmap
    lora: lora.LoRAConfig = from_schema(lora.LoRAConfig, "experts.lora")
    instance_batch: int = schema_default("experts.instance_batch")  # subject images per expert per step
    # class-prior images per expert per step (0 turns prior preservation off)
    prior_batch: int = schema_default("experts.prior_batch")
    prior_weight: float = schema_default("experts.prior_weight")
    train: TrainConfig = from_schema(TrainConfig, "experts.train")


@dataclasses.dataclass(frozen=True)
class ExpertData:
    """What K experts train on. Images uint8 [n, H, W, 3]; tokens int32 [L]."""

    instance_images: list[np.ndarray]
    instance_tokens: np.ndarray     # [K, L]: "a photo of sks {class}"
    prior_images: list[np.ndarray]  # the class-prior images of each expert's class
    prior_tokens: np.ndarray        # [K, L]: "a photo of a {class}"
    seeds: np.ndarray               # [K] int: each expert's own seed

    def __len__(self) -> int:
        return len(self.instance_images)

    def subset(self, idx) -> ExpertData:
        idx = list(idx)
        return ExpertData([self.instance_images[i] for i in idx], self.instance_tokens[idx],
                          [self.prior_images[i] for i in idx], self.prior_tokens[idx], self.seeds[idx])


def expert_batch(data: ExpertData, cfg: ExpertConfig, step: int) -> dict:
    """The step's batch: images [K, n, H, W, 3] in [-1, 1] and tokens [K, n, L] (n = instance + prior), seeds [K]."""
    images, tokens = [], []
    for k in range(len(data)):
        seed = int(data.seeds[k])
        inst = data.instance_images[k][batch_indices(len(data.instance_images[k]), cfg.instance_batch, seed, step)]
        parts, toks = [inst], [np.repeat(data.instance_tokens[k][None], cfg.instance_batch, 0)]
        if cfg.prior_batch:
            prior_idx = batch_indices(len(data.prior_images[k]), cfg.prior_batch, seed ^ streams.PRIOR_BATCHES, step)
            parts.append(data.prior_images[k][prior_idx])
            toks.append(np.repeat(data.prior_tokens[k][None], cfg.prior_batch, 0))
        images.append(np.concatenate(parts))
        tokens.append(np.concatenate(toks))
    return {"images": to_unit_range(np.stack(images)), "tokens": np.stack(tokens),
            "seeds": np.asarray(data.seeds, np.int32)}


def make_expert_loss(graphdef, cfg: ExpertConfig, diffusion: DiffusionConfig, null_tokens: jax.Array):
    """loss_fn(trainable, frozen, batch, step) -> (sum_k L_k, {"loss": [K]}) over a K-expert batch."""
    schedule = get_schedule(diffusion.schedule, diffusion.num_steps)
    prediction = Prediction(diffusion.prediction)

    def loss_fn(trainable, frozen, batch, step):
        model = nnx.merge(graphdef, trainable, *frozen)
        images, tokens = batch["images"], batch["tokens"]          # [K, n, H, W, C], [K, n, L]
        k, n = tokens.shape[:2]
        keys = jax.vmap(lambda s: jax.random.fold_in(jax.random.fold_in(jax.random.key(s), streams.EXPERT_TRAIN), step))(
            batch["seeds"])
        t, noise = jax.vmap(lambda key: sample_t_noise(key, images.shape[1:], schedule.num_steps))(keys)
        keep = jax.vmap(lambda key: keep_condition(jax.random.fold_in(key, 1), n, cfg.train.cond_drop))(keys)
        tokens = jnp.where(keep[..., None], tokens, null_tokens).reshape(k * n, -1)
        flat = lambda a: a.reshape(k * n, *a.shape[2:])
        context = model.encode_text(tokens)
        with lora.routing(jnp.repeat(jnp.arange(k), n), grouped=True):
            per = per_example_loss(lambda x, tt: model(x, tt, context), schedule, prediction, flat(images),
                                   flat(t), flat(noise), cfg.train.min_snr_gamma).reshape(k, n)
        losses = per[:, :cfg.instance_batch].mean(1)
        if cfg.prior_batch:
            losses = losses + cfg.prior_weight * per[:, cfg.instance_batch:].mean(1)
        return losses.sum(), {"loss": losses}

    return loss_fn


def per_expert_norm(tree) -> jax.Array:
    """[K] global norm of each expert's slice of a stacked pytree."""
    return jnp.sqrt(sum(jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1) for x in jax.tree.leaves(tree)))


def clip_per_expert(max_norm: float) -> optax.GradientTransformation:
    """Global-norm clipping applied to each expert's slice on its own (experts never share a clipping factor)."""

    def update(updates, state, params=None):
        scale = jnp.minimum(1.0, max_norm / jnp.maximum(per_expert_norm(updates), 1e-12))
        return jax.tree.map(lambda g: g * scale.reshape(-1, *[1] * (g.ndim - 1)), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make_expert_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """`training.optim.make_optimizer` with the clipping done per expert."""
    return trainable_only(optax.chain(clip_per_expert(cfg.grad_clip),
                                      optax.adamw(learning_rate_schedule(cfg), weight_decay=cfg.weight_decay)))


def make_expert_step(loss_fn, tx: optax.GradientTransformation):
    """step(state, frozen, batch) -> (state, metrics); state = {step, params [K, ...], opt_state}."""

    def step(state, frozen, batch):
        (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], frozen, batch, state["step"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        metrics = {"loss": aux["loss"].mean(), "loss_per_expert": aux["loss"],
                   "grad_norm": per_expert_norm(grads).mean()}
        return {"step": state["step"] + 1, "params": params, "opt_state": opt_state}, metrics

    return step


def stack(trees: list) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)



def make_full_loss(graphdef, cfg: ExpertConfig, diffusion: DiffusionConfig, null_tokens: jax.Array):
    """Full fine-tuning: `jax.vmap` of the one-expert loss over stacked whole-model copies [K, ...]."""
    single = make_expert_loss(graphdef, cfg, diffusion, null_tokens)

    def loss_fn(trainable, frozen, batch, step):
        def one(params, example):
            return single(params, (), jax.tree.map(lambda x: x[None], example), step)[1]["loss"][0]

        losses = jax.vmap(one)(trainable, batch)
        return losses.sum(), {"loss": losses}

    return loss_fn


def expert_model(base_graphdef, base_params, cfg: ExpertConfig, seeds: np.ndarray):
    """(graphdef, trainable [K, ...], frozen tuple) for K = len(seeds) experts of a base model."""
    if cfg.mode == "lora":
        model = nnx.merge(base_graphdef, base_params)
        lora.add_lora(model.unet, len(seeds), cfg.lora, nnx.Rngs(0))
        graphdef, factors, base = lora.split_lora(model)
        return graphdef, lora.init_factors(factors, jnp.asarray(seeds)), (base,)
    if cfg.mode == "full":
        return base_graphdef, stack([base_params] * len(seeds)), ()
    raise ValueError(f"unknown expert mode {cfg.mode!r} (known: lora, full)")


def train_experts(base_graphdef, base_params, data: ExpertData, cfg: ExpertConfig, diffusion: DiffusionConfig,
                  null_tokens: np.ndarray, ckpt_dir=None, stop_at=None, mesh=None, desc="train_experts"):
    """Train len(data) experts. Returns (deltas stacked on a leading expert axis, history).

    The delta is what an expert adds to the base: its LoRA factors, or (full mode) its parameters minus the base's.
    With the `loop` strategy experts train one after another (the baseline); otherwise all in one batched job.
    `ckpt_dir` makes the job resumable (one checkpoint directory per run); `mesh` shards experts over devices.
    """
    one_at_a_time = cfg.strategy == "loop"
    groups = [[k] for k in range(len(data))] if one_at_a_time else [list(range(len(data)))]
    deltas, history = [], []
    for group in groups:
        part = data.subset(group)
        ckpt = None if ckpt_dir is None else Checkpointer(f"{ckpt_dir}/experts-{group[0]:04d}-{group[-1]:04d}")
        delta, hist = _train_group(base_graphdef, base_params, part, cfg, diffusion, null_tokens, ckpt, stop_at,
                                   mesh, desc)
        deltas.append(delta)
        history += hist
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *deltas), history


def _train_group(base_graphdef, base_params, data, cfg, diffusion, null_tokens, ckpt, stop_at, mesh, desc):
    graphdef, trainable, frozen = expert_model(base_graphdef, base_params, cfg, data.seeds)
    tx, step = _compiled_step(graphdef, cfg, diffusion, tuple(int(t) for t in null_tokens))
    # on the device of the (committed) base weights, so that the step compiles once (see `commit_like`)
    state = commit_like({"step": jnp.zeros((), jnp.int32), "params": trainable, "opt_state": tx.init(trainable)},
                        frozen)
    batch_fn = lambda s: expert_batch(data, cfg, s)
    if mesh is not None:
        state, frozen = shard_experts(state, mesh, len(data)), shard_experts(frozen, mesh, -1)
        batch_fn = lambda s: shard_experts(expert_batch(data, cfg, s), mesh, len(data))
    per_step = len(data) * (cfg.instance_batch + cfg.prior_batch)
    state, history = train_loop(lambda s, b, _rng: step(s, frozen, b), state, batch_fn, cfg.train,
                                jax.random.key(0), ckpt, stop_at, desc, examples_per_step=per_step)
    params = state["params"]
    delta = params if cfg.mode == "lora" else jax.tree.map(lambda p, b: p - b[None], params, base_params)
    return delta, history


@functools.lru_cache(maxsize=4)
def _compiled_step(graphdef, cfg: ExpertConfig, diffusion: DiffusionConfig, null_tokens: tuple[int, ...]):
    """(optimizer, jitted step) for one expert-model structure, kept: experts trained one after another (the loop
    strategy, DreamBooth's per-subject timing) compile once, not once each."""
    make_loss = make_expert_loss if cfg.mode == "lora" else make_full_loss
    tx = make_expert_optimizer(cfg.train)
    return tx, jax.jit(make_expert_step(make_loss(graphdef, cfg, diffusion, jnp.asarray(null_tokens)), tx),
                       donate_argnums=0)


def expert_mesh(n_experts: int):
    """A 1-D device mesh over the expert axis when there are several devices and they divide the experts."""
    devices = jax.devices()
    if len(devices) < 2 or n_experts % len(devices):
        return None
    return jax.sharding.Mesh(np.array(devices), ("expert",))


def shard_experts(tree, mesh, n_experts: int):
    """Place leaves with a leading axis of n_experts split over the mesh's expert axis; replicate the rest."""
    split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("expert"))
    whole = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

    def place(x):
        x = jnp.asarray(x)
        return jax.device_put(x, split if x.ndim and x.shape[0] == n_experts else whole)

    return jax.tree.map(place, tree)
