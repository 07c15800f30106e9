"""Pretraining speed on this machine (CPU or whatever accelerator JAX and torch find): images/s of the base model's
pretraining step and of the CLIP's, each end to end (rendering the stream batch included) and the step alone, so the
pretraining budget in config/pretrain.yaml can be sized for the hardware at hand.

Run: `python bench/bench_pretrain.py [--steps 10] [--config config/pretrain.yaml ...]`; writes
bench/out/pretrain.json. An accelerator's overlay (`--config config/pretrain.yaml config/pretrain-accelerator.yaml`)
measures its batch sizes and `pretrain.render_workers`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import jax.numpy as jnp

from suti import io
from suti.config import default_config, from_dict
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import get_schedule
from suti.models.clip_text import ClipTextTower
from suti.pretrain import base as pretrain_base
from suti.pretrain.clip import stream_batches as clip_batches
from suti.pretrain.config import PretrainConfig, clip_config
from suti.training.base_model import BaseConfig, model_config
from suti.training.optim import make_optimizer
from suti.training.state import create_train_state, make_train_step
from suti.training.t2i import make_t2i_loss


def base_rates(config: dict, pre: PretrainConfig, steps: int) -> dict:
    """images/s of the base pretraining step: rendering + step (in the steady state, once the render workers' head
start is used up), and the step alone on one fixed batch."""
    resolution, s = config["world"]["resolution"], config["scorer"]
    cfg = from_dict(BaseConfig, config["base"])
    tower = ClipTextTower.random(s["width"], s["layers"], s["width"] // s["head_width"], s["context_length"])
    mcfg = model_config(cfg.model, resolution, tower)
    tokenizer, graphdef, params = pretrain_base.init(mcfg, pre.seed, tower)
    train = pre.base.train
    loss_fn = make_t2i_loss(graphdef, get_schedule(cfg.diffusion.schedule, cfg.diffusion.num_steps),
                            Prediction(cfg.diffusion.prediction), train.cond_drop,
                            jnp.asarray(tokenizer.encode([""])[0]), train.min_snr_gamma)
    tx = make_optimizer(train)
    step_fn, state = make_train_step(loss_fn, tx, train.ema_decay), create_train_state(params, tx)
    batches = pretrain_base.stream_batches(tokenizer, dataclasses.replace(cfg, train=train), pre.seed, resolution,
                                           pre.render_workers)
    warm = 1 + batches.ahead  # the compile, then the batches the workers made meanwhile: time the steady state
    for i in range(warm):
        state, m = step_fn(state, batches(i), jax.random.key(i))
    jax.block_until_ready(m["loss"])
    start = time.perf_counter()
    for i in range(warm, warm + steps):
        state, m = step_fn(state, batches(i), jax.random.key(i))
    jax.block_until_ready(m["loss"])
    end_to_end = steps * train.batch_size / (time.perf_counter() - start)
    fixed = batches(warm + steps)
    batches.close()
    start = time.perf_counter()
    for i in range(steps):
        state, m = step_fn(state, fixed, jax.random.key(i))
    jax.block_until_ready(m["loss"])
    return {"base_images_per_s": end_to_end, "base_step_only_images_per_s":
            steps * train.batch_size / (time.perf_counter() - start), "base_batch": train.batch_size}


def clip_rates(config: dict, pre: PretrainConfig, steps: int) -> dict:
    """images/s of the CLIP pretraining (torch): rendering + forward/backward/update."""
    import open_clip
    import torch

    from suti.scoring.clip_training import build_model, training_device

    cfg, resolution, device = clip_config(config["scorer"], pre.clip), config["world"]["resolution"], training_device()
    model = build_model(cfg, resolution, 0).to(device)
    opt, loss_fn = torch.optim.AdamW(model.parameters(), lr=1e-4), open_clip.ClipLoss()
    start, batches, pool = None, *clip_batches(cfg, pre.seed, resolution, pre.render_workers)
    warm = 1 + pool.ahead  # as base_rates: time the steady state
    with pool:
        for i in range(warm + steps):
            if i == warm:
                start = time.perf_counter()
            x, t = batches(i)
            loss = loss_fn(*model(x.to(device), t.to(device)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()  # as fit_clip: one sync per step
    return {"clip_images_per_s": steps * cfg.batch_size / (time.perf_counter() - start), "clip_batch": cfg.batch_size,
            "torch_device": device}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=10, help="timed steps of each")
    p.add_argument("--config", nargs="+", default=["config/pretrain.yaml"], help="overlays on config/config.yaml")
    p.add_argument("--out", default="bench/out/pretrain.json")
    args = p.parse_args()
    config = default_config(overlays=args.config)
    pre = from_dict(PretrainConfig, config["pretrain"])
    out = {"jax_devices": [str(d) for d in jax.devices()], "cpus": os.cpu_count(), "render_workers": pre.render_workers,
           **base_rates(config, pre, args.steps), **clip_rates(config, pre, args.steps)}
    for key, value in out.items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    io.write_json(out, args.out)


if __name__ == "__main__":
    main()
