"""The training loop: deterministic batches and keys per step, progress, throughput, NaN guard, checkpoints, resume.

Batches and keys are functions of the step alone (`batch_fn(step)`, `fold_in(root, step)`), so a run killed and
resumed from its latest checkpoint ends with the same parameters as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Callable, Optional

import jax
import numpy as np
from tqdm import tqdm

from suti import streams
from suti.errors import SutiError
from suti.training.checkpoints import Checkpointer
from suti.training.config import TrainConfig

log = logging.getLogger("suti.train")


class TrainingDiverged(SutiError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def resume(ckpt: Optional[Checkpointer], state):
    """(state, first step): the latest checkpoint if there is one, else the given fresh state from step 0."""
    if ckpt is None or ckpt.latest_step() is None:
        return state, 0
    step = ckpt.latest_step()
    log.info("resuming from step %d (%s)", step, ckpt.directory)
    return ckpt.restore(step, state), step


def train_loop(
    train_step: Callable,
    state,
    batch_fn: Callable[[int], dict],
    cfg: TrainConfig,
    rng: jax.Array,
    ckpt: Optional[Checkpointer] = None,
    stop_at: Optional[int] = None,
    desc: str = "train",
    examples_per_step: Optional[int] = None,
):
    """Run steps from the latest checkpoint (or 0) to `cfg.steps` (or `stop_at`, to simulate a kill in tests).

    Returns:
      (state, history): history is a list of {"step", "loss", "grad_norm", "examples_per_s"} every log_every steps,
      from step 0 (a resumed run's earlier rows come from its checkpoints).
    """
    state, start = resume(ckpt, state)
    end = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
    per_step = examples_per_step or cfg.batch_size
    history = ckpt.history(start) if ckpt is not None and start > 0 else []
    window_start, window_steps = time.perf_counter(), 0
    last_good = start if ckpt is not None and start > 0 else None
    bar = tqdm(total=cfg.steps, initial=start, desc=desc, file=sys.stderr, mininterval=1.0, dynamic_ncols=True)
    for step in range(start, end):
        state, metrics = train_step(state, batch_fn(step), jax.random.fold_in(rng, step))
        window_steps += 1
        bar.update(1)
        done = step + 1
        logs, saves = done % cfg.log_every == 0 or done == end, ckpt is not None and (
            done % cfg.checkpoint_every == 0 or done == cfg.steps)
        if not (logs or saves):
            continue  # reading the loss waits for the step: an accelerator runs ahead until a log or a save
        loss = float(metrics["loss"])
        if not math.isfinite(loss):  # checked before every save, so a checkpoint is never of a diverged state
            bar.close()
            where = f"step {last_good} in {ckpt.directory}" if last_good is not None else "none"
            raise TrainingDiverged(f"loss became {loss} by step {done}; last good checkpoint: {where}; "
                                   f"lower the learning rate or raise warm-up")
        if logs:
            elapsed = time.perf_counter() - window_start
            rate = window_steps * per_step / max(elapsed, 1e-9)
            row = {"step": done, "loss": loss, "grad_norm": float(metrics["grad_norm"]), "examples_per_s": rate}
            history.append(row)
            bar.set_postfix(loss=f"{loss:.4f}", ex_s=f"{rate:.0f}")
            log.info("%s step %d loss %.4f grad_norm %.3f %.1f examples/s", desc, done, loss, row["grad_norm"], rate)
            window_start, window_steps = time.perf_counter(), 0
        if saves:
            ckpt.save(done, state, history)
            last_good = done
    bar.close()
    return state, history


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The dataset rows of step `step`: a fresh seeded draw per step (with replacement across steps)."""
    return np.random.default_rng([seed, streams.TRAIN_BATCHES, step]).choice(n, size=batch_size, replace=n < batch_size)
