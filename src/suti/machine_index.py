"""The machine index: how fast this machine runs this project's work today, against the reference machine and day, so
that a run's minutes compare across days and machines.

A fixed measurement of ~30 s: training steps of the released base model (`pretrained/base`, batch 32 at 32 px) and
guided DDIM sampling passes of it (16 images, 10 steps), each compiled first and then timed over `repeats` interleaved
rounds (median). The index is the geometric mean of the two throughputs divided by the reference's: 1.0 is the
reference machine on its reference day, 0.5 a machine (or a busy hour) that runs the same work in twice the time.
The run records it (rule `machine_index`, results/machine_index.json, the report) and `bench/machine_index.py`
prints it.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from suti.diffusion.config import SampleConfig
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import get_schedule
from suti.models.pipeline import TextToImagePipeline
from suti.training.config import TrainConfig
from suti.training.optim import make_optimizer
from suti.training.state import create_train_state, make_train_step
from suti.training.t2i import make_t2i_loss

TRAIN_BATCH, SAMPLE_IMAGES = 32, 16
SAMPLE = SampleConfig(sampler="ddim", steps=10, guidance=3.0)
# the reference: this project's 2-core CPU machine (EXPERIMENTS.md, 2026-12-08), idle, measured by
# `python bench/machine_index.py --repeats 5`
REFERENCE = {"date": "2026-12-08", "train_images_per_s": 105.3, "sample_images_per_s": 19.4}


def measure(base_dir: str | Path = "pretrained/base", repeats: int = 3, reference: dict = REFERENCE) -> dict:
    """{"train_images_per_s", "sample_images_per_s", "index", "reference", "machine", ...} of this machine now."""
    pipe = TextToImagePipeline.load(base_dir)
    res = pipe.resolution
    rng = np.random.default_rng(0)
    prompts = [f"a photo of a {c} mug" for c in ("red", "blue", "green", "yellow")] * (TRAIN_BATCH // 4)
    batch = {"images": jnp.asarray(rng.uniform(-1, 1, (TRAIN_BATCH, res, res, 3)), jnp.float32),
             "tokens": jnp.asarray(pipe.tokenizer.encode(prompts))}
    schedule = get_schedule(pipe.diffusion_cfg.schedule, pipe.diffusion_cfg.num_steps)
    loss_fn = make_t2i_loss(pipe.graphdef, schedule, Prediction(pipe.diffusion_cfg.prediction), 0.1,
                            jnp.asarray(pipe.tokenizer.encode([""])[0]))
    train_cfg = TrainConfig(batch_size=TRAIN_BATCH, steps=1000, learning_rate=1e-4, warmup_steps=1)
    tx = make_optimizer(train_cfg)
    step = make_train_step(loss_fn, tx, 0.99)
    holder = {"state": create_train_state(jax.tree.map(jnp.array, pipe.params), tx), "i": 0}

    def train(n: int = 5) -> float:
        began = time.perf_counter()
        for _ in range(n):
            holder["i"] += 1
            holder["state"], metrics = step(holder["state"], batch, jax.random.key(holder["i"]))
        jax.block_until_ready(metrics["loss"])
        return n * TRAIN_BATCH / (time.perf_counter() - began)

    def sample() -> float:
        began = time.perf_counter()
        pipe.sample(prompts[:SAMPLE_IMAGES], 0, SAMPLE, batch_size=SAMPLE_IMAGES)
        return SAMPLE_IMAGES / (time.perf_counter() - began)

    train(1), sample()  # compile
    rounds = [(train(), sample()) for _ in range(repeats)]
    train_ips, sample_ips = (float(np.median(x)) for x in zip(*rounds))
    return {"index": index_of(train_ips, sample_ips, reference), "train_images_per_s": train_ips,
            "sample_images_per_s": sample_ips, "rounds": [list(r) for r in rounds], "reference": dict(reference),
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": _cores(),
                        "jax_backend": jax.default_backend(), "jax": jax.__version__},
            "train_batch": TRAIN_BATCH, "sample_images": SAMPLE_IMAGES,
            "sample": {"sampler": SAMPLE.sampler, "steps": SAMPLE.steps, "guidance": SAMPLE.guidance}}


def index_of(train_images_per_s: float, sample_images_per_s: float, reference: dict) -> float:
    """The geometric mean of the two throughputs' ratios to the reference's (1.0 = the reference, 2.0 = twice as
    fast)."""
    return float(np.sqrt(train_images_per_s / reference["train_images_per_s"]
                         * sample_images_per_s / reference["sample_images_per_s"]))


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
