"""The pretraining render stream: captioned renders of identities no experiment can contain.

An experiment's corpus draws identities `(world seed, id)` with `id < world.n_subjects + world.n_distractor_subjects`,
which the config schema bounds below `FIRST_ID`. The stream draws ids at or above `FIRST_ID`, so held-out evaluation
subjects stay unseen by the foundation models by construction, whatever the seeds. Batches are functions of
(seed, stream, step) alone: a resumed run sees the batches an uninterrupted one would.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from suti import world
from suti.data.scene_changes import draw_changes
from suti.world import vocab

FIRST_ID = 1_000_000_000      # the first identity id of the pretraining stream (experiments stay below it)
N_TRAIN_IDS = 900_000_000     # training draws ids FIRST_ID .. FIRST_ID + N_TRAIN_IDS - 1
N_HELDOUT_IDS = 1_000_000     # the models' own held-out evaluation draws the next ones


def stream_subject(rng: np.random.Generator, world_seed: int, heldout: bool = False) -> world.Subject:
    """A random identity of the pretraining range: its training part, or (`heldout`) the part no model trains on."""
    first = FIRST_ID + (N_TRAIN_IDS if heldout else 0)
    return world.make_subject(world_seed, first + int(rng.integers(N_HELDOUT_IDS if heldout else N_TRAIN_IDS)))


def random_scene(rng: np.random.Generator, heldout_combos=()) -> tuple[dict, world.Scene]:
    """A random scene with the property changes prompts ask for (recolour, repattern, glass, companions). A
    (class, background) pair in `heldout_combos` is never drawn: the background is redrawn (callers pass the
    class through `heldout_combos` already filtered to it)."""
    overrides = draw_changes(rng, rng.uniform(size=3))
    allowed = [b for b in vocab.BACKGROUNDS if b not in heldout_combos]
    overrides["background"] = str(rng.choice(allowed))
    return overrides, world.sample_scene(rng, companion_prob=0.35, shiny_prob=0.1, **overrides)


def draw(rng: np.random.Generator, world_seed: int, heldout_combos=(), heldout: bool = False):
    """One (subject, scene) of the stream; `heldout_combos` are (class, background) pairs never shown."""
    subject = stream_subject(rng, world_seed, heldout)
    banned = {b for c, b in heldout_combos if c == subject.cls}
    return subject, random_scene(rng, banned)[1]


def batch(seed: int, stream: int, step: int, size: int, resolution: int, heldout_combos=(),
          captions: bool = True, heldout: bool = False) -> dict:
    """One deterministic batch: {"images" uint8 [B,H,W,3], "captions" [B] (web-style, always naming the class),
    "subjects" [B] Subject, "scenes" [B] Scene}."""
    rng = np.random.default_rng([seed, stream, step])
    draws = [draw(rng, seed, heldout_combos, heldout) for _ in range(size)]
    out = {"images": np.stack([world.render(s, sc, resolution) for s, sc in draws]),
           "subjects": [s for s, _ in draws], "scenes": [sc for _, sc in draws]}
    if captions:
        out["captions"] = [world.describe(s, sc, rng) for s, sc in draws]
    return out


def _rendered(step: int, seed: int, stream: int, size: int, resolution: int, heldout_combos, prepare):
    """A worker's job: `prepare` of the picklable part of `batch` (images and captions)."""
    b = batch(seed, stream, step, size, resolution, heldout_combos)
    b = {"images": b["images"], "captions": b["captions"]}
    return prepare(b) if prepare is not None else b


class RenderPool:
    """`pool(step)` -> `prepare({"images", "captions"})` of `batch(seed, stream, step, ...)`, made ahead in worker
    processes.

    An accelerator trains faster than one core renders (~1,100 renders/s) and tokenizes (open_clip's tokenizer: ~700
    captions/s), so `workers` processes make the next steps' batches while the current one trains; `prepare` (a
    picklable function: a module-level one or a partial of one) is the rest of the batch's preparation. Batches stay
    functions of the step: results are identical with any number of workers, and resuming works as before.
    `workers=0` makes them in the caller, as on a 2-core CPU, where training is the bottleneck. Workers are spawned,
    never forked: the parent may hold JAX's or CUDA's threads.
    """

    def __init__(self, workers: int, seed: int, stream: int, size: int, resolution: int, heldout_combos=(),
                 prepare=None, first_step: int = 0):
        self.args = (seed, stream, size, resolution, tuple(tuple(c) for c in heldout_combos), prepare)
        self.first_step = first_step  # `pool(step)` is the stream's step first_step + step
        self.ahead = 2 * workers
        self.pending: dict[int, Future] = {}
        self.executor = (ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
                         if workers > 0 else None)

    def __call__(self, step: int):
        step += self.first_step
        if self.executor is None:
            return _rendered(step, *self.args)
        for stale in [s for s in self.pending if s < step]:  # a caller that skipped steps (a resume)
            self.pending.pop(stale).cancel()
        for ahead in range(step, step + self.ahead):
            if ahead not in self.pending:
                self.pending[ahead] = self.executor.submit(_rendered, ahead, *self.args)
        return self.pending.pop(step).result()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
