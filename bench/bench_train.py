"""Base-model speed at the default size: train throughput (images/s) and sampling time per image, each beside a
baseline that shows what the JAX design buys.

- training: the jitted `train_step` vs the same step run op by op (`jax.disable_jit`), on one batch shape;
- sampling: the whole DDIM loop in one jitted `lax.scan` vs a Python loop over a jitted single denoising step.
Run: `python bench/bench_train.py [--batch 32] [--steps 20]`; writes bench/out/train.json.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from suti import io
from suti.config import default_config, from_dict
from suti.diffusion.process import Prediction, predict_eps_x0
from suti.diffusion.samplers import guided
from suti.diffusion.schedules import get_schedule
from suti.models.t2i import count_params
from suti.training.base_model import BaseConfig, init_base, model_config, timing_tower
from suti.training.optim import make_optimizer
from suti.training.state import create_train_state, make_train_step
from suti.models.pipeline import make_sample_fn
from suti.training.t2i import make_t2i_loss


def _time(fn, n):
    out = fn(0)
    jax.block_until_ready(out)
    start = time.perf_counter()
    for i in range(n):
        out = fn(i + 1)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=20, help="timed train steps")
    p.add_argument("--out", default="bench/out/train.json")
    args = p.parse_args()
    config = default_config()
    base = from_dict(BaseConfig, config["base"])
    tower = timing_tower(config)
    mcfg = model_config(base.model, config["world"]["resolution"], tower)
    tokenizer, graphdef, params = init_base(mcfg, [], 0, tower)
    vocab, bsz, res = tokenizer.size, base.train.batch_size, mcfg.unet.resolution
    schedule = get_schedule(base.diffusion.schedule, base.diffusion.num_steps)
    prediction = Prediction(base.diffusion.prediction)
    null = jnp.zeros(mcfg.max_tokens, jnp.int32).at[0].set(1)
    loss_fn = make_t2i_loss(graphdef, schedule, prediction, 0.1, null)
    tx = make_optimizer(base.train)
    rng = np.random.default_rng(0)
    batch = {"images": jnp.asarray(rng.uniform(-1, 1, (bsz, res, res, 3)), jnp.float32),
             "tokens": jnp.asarray(rng.integers(1, vocab, (bsz, mcfg.max_tokens)), jnp.int32)}
    holder = {"state": create_train_state(jax.tree.map(jnp.copy, params), tx)}  # donated by the jitted step
    step = make_train_step(loss_fn, tx, base.train.ema_decay)

    def jitted(i):
        holder["state"], m = step(holder["state"], batch, jax.random.key(i))
        return m["loss"]

    t_jit = _time(jitted, args.steps)
    eager_state = create_train_state(params, tx)
    eager_step = make_train_step(loss_fn, tx, base.train.ema_decay).__wrapped__

    def eager(i):
        with jax.disable_jit():
            return eager_step(eager_state, batch, jax.random.key(i))[1]["loss"]

    t_eager = _time(eager, 1)
    print(f"model: {count_params(nnx.merge(graphdef, params)):,} params at {res} px, batch {bsz}")
    print(f"train: jitted {bsz / t_jit:7.1f} img/s   op-by-op {bsz / t_eager:7.2f} img/s   "
          f"ratio {t_eager / t_jit:.0f}x")

    cfg, n = base.sample, 32
    shape = (n, res, res, 3)
    tokens = jnp.asarray(rng.integers(1, vocab, (n, mcfg.max_tokens)), jnp.int32)
    nulls = jnp.tile(null[None], (n, 1))
    sample = make_sample_fn(graphdef, schedule, prediction, cfg, shape)
    t_scan = _time(lambda i: sample(params, tokens, nulls, jax.random.key(i)), 2)

    @jax.jit
    def one_step(x, t):  # one guided denoising step with a fixed timestep, DDIM update inline
        model = nnx.merge(graphdef, params)
        den = guided(model, model.encode_text(tokens), model.encode_text(nulls), cfg.guidance)
        tb = jnp.full((n,), t)
        eps, x0 = predict_eps_x0(schedule, prediction, x, tb, den(x, tb))
        an = schedule.alpha_bar[jnp.maximum(t - schedule.num_steps // cfg.steps, 0)]
        return jnp.sqrt(an) * jnp.clip(x0, -1, 1) + jnp.sqrt(1 - an) * eps

    def python_loop(i):
        x = jax.random.normal(jax.random.key(i), shape)
        for t in np.linspace(schedule.num_steps - 1, 0, cfg.steps).round().astype(int):
            x = one_step(x, int(t))
        return x

    t_loop = _time(python_loop, 2)
    print(f"sample ({cfg.sampler}, {cfg.steps} steps, guidance {cfg.guidance}): scan {t_scan / n * 1000:6.1f} ms/img   "
          f"python loop {t_loop / n * 1000:6.1f} ms/img   ratio {t_loop / t_scan:.2f}x")
    secs = base.train.steps * t_jit
    print(f"default train_base: {base.train.steps} steps x {t_jit:.3f} s = {secs / 60:.1f} min (budget 5 min)")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    io.write_json(dict(train_images_per_s=bsz / t_jit, eager_images_per_s=bsz / t_eager, train_ratio=t_eager / t_jit,
                       sample_ms_per_image=1000 * t_scan / n, python_loop_ms_per_image=1000 * t_loop / n,
                       default_train_minutes=secs / 60), args.out)


if __name__ == "__main__":
    main()
