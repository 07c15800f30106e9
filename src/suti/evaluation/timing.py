"""The speed comparison, measured cleanly: every timed method on the same few subjects, in one process, interleaved and
repeated, each method's compilation done before any clock starts.

Evaluation jobs time their own subjects, but they run beside other jobs on whatever the machine does that hour (the
same DreamBooth read 4.7 and 7.3 s per subject in two identical runs); serialising them cost the run its
parallelism. Here a subject's methods run back to back, in an order that alternates from one (subject, repeat) to
the next, so that a slow minute of the machine falls on both; the repeats are resampled with the subjects for the
interval (`paired.paired_difference` treats them as replicates).

A subject's time is what a user waits from its demonstrations to its N images: DreamBooth's fine-tuning (with its
class priors where experts.prior_batch > 0) and its sampling; the apprentice's demonstration encoding and sampling.
"""

from __future__ import annotations

import dataclasses
import time

import jax

from suti.evaluation import generators
from suti.evaluation.methods import TIMING_BENCH

BENCH = TIMING_BENCH  # the bench name of timing rows in the paired table


@dataclasses.dataclass
class DreamBoothTimer:
    """DreamBooth on one subject at a time: its expert fine-tuned, then sampled (samplers compiled once and shared)."""

    base: object
    demonstrations: dict
    class_of: dict
    priors: dict
    experts: object          # ExpertsSection
    sample: object           # SampleConfig
    batch_size: int
    seed: int
    directory: str
    _samplers: dict = dataclasses.field(default_factory=dict)

    def __call__(self, rows: list[dict]) -> float:
        subject = rows[0]["subject"]
        shard, tuned = generators.train_dreambooth(self.base, {subject: self.demonstrations[subject]}, self.class_of,
                                                   self.priors, self.experts, self.seed, self.directory)
        shard = dataclasses.replace(shard, _fns=self._samplers)  # one expert's shard: the same compiled sampler
        start = time.perf_counter()
        generators.dreambooth_renderer(shard, self.experts.identifier, self.sample, self.batch_size)(rows)
        return tuned[subject] + time.perf_counter() - start  # fine-tuning (compilation excluded) and sampling


def apprentice_timer(pipe, demonstrations: dict, sample, batch_size: int):
    """The apprentice: a subject's demonstrations encoded and its images sampled, timed."""
    render = generators.apprentice_renderer(pipe, demonstrations, sample, batch_size)

    def timed(rows: list[dict]) -> float:
        start = time.perf_counter()
        jax.block_until_ready(render(rows))
        return time.perf_counter() - start

    return timed


def time_methods(timers: dict, rows_by_subject: dict[str, list[dict]], repeats: int, progress=None) -> list[dict]:
    """[{"method": name, "subject", "repeat", "seconds"}] for every (repeat, subject, method). Each method runs once on
    the first subject before any timing (compilation, first-touch allocation); then, repeat after repeat, each subject
    by every method, the methods' order reversed from one (subject, repeat) to the next."""
    subjects = sorted(rows_by_subject)
    names = list(timers)
    for name in names:  # warm-up, untimed
        timers[name](rows_by_subject[subjects[0]])
    out = []
    for repeat in range(repeats):
        for i, subject in enumerate(subjects):
            order = names if (repeat + i) % 2 == 0 else names[::-1]
            for name in order:
                out.append({"method": name, "subject": subject, "repeat": repeat,
                            "seconds": float(timers[name](rows_by_subject[subject]))})
                if progress is not None:
                    progress.update(1)
    return out
