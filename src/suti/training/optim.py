"""AdamW with linear warm-up, cosine decay and global-norm gradient clipping."""

from __future__ import annotations

import jax
import optax
from flax import nnx

from suti.models.layers import FrozenParam
from suti.training.config import TrainConfig


def learning_rate_schedule(cfg: TrainConfig) -> optax.Schedule:
    """Linear warm-up to cfg.learning_rate, then cosine decay to 10% of it at cfg.steps."""
    warmup = min(cfg.warmup_steps, max(cfg.steps - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=cfg.learning_rate, warmup_steps=warmup,
        decay_steps=max(cfg.steps, warmup + 1), end_value=cfg.learning_rate * 0.1)


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    return trainable_only(optax.chain(optax.clip_by_global_norm(cfg.grad_clip),
                                      optax.adamw(learning_rate_schedule(cfg), weight_decay=cfg.weight_decay)))


def make_supervised_step(loss_fn, tx: optax.GradientTransformation):
    """Jitted `step(params, opt_state, inputs, labels) -> (params, opt_state, loss)`: one `tx` update on
    `loss_fn(params, inputs, labels)` (the probe's and the identity judge's training)."""
    @jax.jit
    def step(params, opt_state, inputs, labels):
        loss, grads = jax.value_and_grad(loss_fn)(params, inputs, labels)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def trainable_only(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """`tx` on the trained parameters; `FrozenParam`s get a zero update (weight decay alone would move them) and no
    optimiser state."""
    return optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, param_labels)


def param_labels(params):
    """"frozen" for each FrozenParam of a params state, "train" for every other parameter."""
    return jax.tree.map(lambda v: "frozen" if isinstance(v, FrozenParam) else "train", params,
                        is_leaf=lambda x: isinstance(x, nnx.Variable))
