"""SynthBench's test split: subjects that no corpus, stream or decision has used, each given curated demonstrations.

The held-out mined clusters are the validation split: every choice (tau, steps, levers) is read there, and they have
guided design for a long time. The test split is drawn afresh, by `evaluation.test.seed`, from an id range of the
experiment's world that nothing else reads (`TEST_FIRST_ID`), and each subject comes with DreamBench-style curated
demonstrations: `apprentice.max_demos` clean renders of it alone, each in a different background, pose and light
(DreamBench gives 4-6 photos of a subject in a few real scenes). Methods take the first K. Its figures are the
headline: read once per release.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from suti import streams, world
from suti.config import from_dict
from suti.evaluation import plans
from suti.evaluation.config import EvaluationConfig, SynthBenchEval, TestSplitEval
from suti.identities import EVAL_LOOKALIKE_FIRST_ID, EVAL_LOOKALIKE_SPAN

BENCH = "synthbench_test"
TEST_FIRST_ID = 1_970_000_000   # the test subjects' ids (a world subject is (world seed, id))
TEST_SPAN = 10_000_000
assert TEST_FIRST_ID >= EVAL_LOOKALIKE_FIRST_ID + EVAL_LOOKALIKE_SPAN  # apart from the evaluation's look-alikes


def test_subjects(world_seed: int, cfg: TestSplitEval) -> dict[str, world.Subject]:
    """{name: subject} of the test split, named by their id's offset in the test range ("t0123456"), sorted."""
    rng = np.random.default_rng([cfg.seed, streams.TEST_SUBJECTS])
    offsets = sorted(int(i) for i in rng.choice(TEST_SPAN, cfg.subjects, replace=False))
    return {f"t{o:07d}": world.make_subject(world_seed, TEST_FIRST_ID + o) for o in offsets}


def curated_demonstrations(subjects: dict[str, world.Subject], cfg: TestSplitEval, k: int,
                           resolution: int) -> dict[str, list[np.ndarray]]:
    """{name: k renders}: the subject alone (no companion, matte, as it is), each in another background."""
    out = {}
    for name, subject in subjects.items():
        rng = np.random.default_rng([cfg.seed, streams.TEST_DEMONSTRATIONS, subject.subject_id])
        backgrounds = rng.permutation(list(world.BACKGROUNDS))
        out[name] = [world.render(subject, world.sample_scene(rng, background=str(backgrounds[i % len(backgrounds)]),
                                                              companion=None, material="matte"), resolution)
                     for i in range(k)]
    return out


def truths(subjects: dict[str, world.Subject]) -> dict[str, dict[str, str]]:
    """{name: {"class", "colour", "pattern"}}: what the probe should read back (`protocol.probe_accuracies`)."""
    return {name: {"class": s.cls, "colour": s.colour, "pattern": s.pattern} for name, s in subjects.items()}


@dataclasses.dataclass(frozen=True)
class TestSplit:
    """One experiment's test split: its subjects, their plan, demonstrations and truths, read from the stage params
    (`seed`, `replicate`, `world.resolution`, `evaluation`), so that every stage builds them alike."""

    cfg: TestSplitEval
    synthbench: SynthBenchEval
    subjects: dict[str, world.Subject]
    world_seed: int
    resolution: int

    @classmethod
    def of(cls, params: dict, first: int | None = None) -> TestSplit:
        """The split of `params`' experiment; `first`: only its first subjects (by name)."""
        cfg = from_dict(EvaluationConfig, params["evaluation"])
        seed = plans.world_seed(params)
        subjects = test_subjects(seed, cfg.test)
        return cls(cfg.test, dataclasses.replace(cfg.synthbench, subjects=None),
                   dict(list(subjects.items())[:first]), seed, int(params["world"]["resolution"]))

    def plan(self, seed: int) -> list[dict]:
        """Every subject's rows: the validation split's prompts per category and images per prompt."""
        return plans.synthbench_plan([(n, s.cls) for n, s in self.subjects.items()], self.synthbench, seed, BENCH)

    def demonstrations(self, k: int, names=None) -> dict[str, list[np.ndarray]]:
        """{name: its first k curated demonstrations}, of `names` or every subject."""
        chosen = {n: s for n, s in self.subjects.items() if names is None or n in names}
        return curated_demonstrations(chosen, self.cfg, k, self.resolution)

    def truths(self) -> dict[str, dict[str, str]]:
        return truths(self.subjects)
