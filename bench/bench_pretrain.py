"""Pretraining speed on this machine (CPU or whatever accelerator JAX and torch find): images/s of the base model's
pretraining step and of the CLIP's, each end to end (rendering the stream batch included) and the step alone, so the
pretraining budget in config/pretrain.yaml can be sized for the hardware at hand.

Run: `python bench/bench_pretrain.py [--steps 10]`; writes bench/out/pretrain.json.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import yaml

from suti import io
from suti.config import default_config, deep_update, from_dict
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
    """images/s of the base pretraining step: rendering + step, and the step alone on one fixed batch."""
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
    batches = pretrain_base.stream_batches(tokenizer, pre.seed, train.batch_size, resolution, cfg.heldout_combos)
    state, m = step_fn(state, batches(0), jax.random.key(0))
    jax.block_until_ready(m["loss"])
    start = time.perf_counter()
    for i in range(steps):
        state, m = step_fn(state, batches(i + 1), jax.random.key(i))
    jax.block_until_ready(m["loss"])
    end_to_end = steps * train.batch_size / (time.perf_counter() - start)
    fixed = batches(0)
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

    from suti.scoring.clip_training import build_model

    cfg = clip_config(config["scorer"], pre.clip)
    model, batches = build_model(cfg, config["world"]["resolution"], 0), clip_batches(cfg, pre.seed, 32)
    opt, loss_fn = torch.optim.AdamW(model.parameters(), lr=1e-4), open_clip.ClipLoss()
    start = None
    for i in range(steps + 1):
        if i == 1:
            start = time.perf_counter()
        x, t = batches(i)
        loss = loss_fn(*model(x, t))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"clip_images_per_s": steps * cfg.batch_size / (time.perf_counter() - start), "clip_batch": cfg.batch_size,
            "torch_device": "cpu"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=10, help="timed steps of each")
    p.add_argument("--out", default="bench/out/pretrain.json")
    args = p.parse_args()
    with open("config/pretrain.yaml") as f:
        config = deep_update(default_config(), yaml.safe_load(f))
    pre = from_dict(PretrainConfig, config["pretrain"])
    out = {"jax_devices": [str(d) for d in jax.devices()], "cpus": os.cpu_count(),
           **base_rates(config, pre, args.steps), **clip_rates(config, pre, args.steps)}
    for key, value in out.items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    io.write_json(out, args.out)


if __name__ == "__main__":
    main()
