"""The identity judge (suti.scoring.judge), look-alikes (suti.identities) and the identity metrics
(suti.evaluation.identity): it re-identifies subjects among look-alikes, and nothing but evaluation reads it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from suti import codedeps, world
from suti.cli import COMMANDS
from suti.evaluation import identity
from suti.evaluation.config import IdentityEval
from suti.identities import lookalikes
from suti.scoring import judge as J

REPO = Path(__file__).resolve().parents[2]
RELEASED = REPO / "pretrained" / "judge"


def test_lookalikes_share_class_and_colour_name_and_nothing_else():
    subject = world.make_subject(0, 7)
    found = lookalikes(0, subject, 15, 1_950_000_000, 10_000_000)
    assert found == lookalikes(0, subject, 15, 1_950_000_000, 10_000_000)  # deterministic
    assert len({s.subject_id for s in found}) == 15 and subject.subject_id not in {s.subject_id for s in found}
    assert all((s.cls, s.colour) == (subject.cls, subject.colour) for s in found)
    assert len({round(s.hue, 6) for s in found}) == 15  # exact appearance differs
    with pytest.raises(ValueError, match="fewer than"):
        lookalikes(0, subject, 15, 1_950_000_000, 50)


def test_supcon_loss_is_lower_when_identities_cluster():
    labels = np.array([0, 0, 1, 1])
    together = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)
    crossed = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], np.float32)
    assert float(J.supcon_loss(together, labels, 0.1)) < float(J.supcon_loss(crossed, labels, 0.1))


def test_training_batches_are_lookalike_groups_and_functions_of_the_step():
    cfg = J.JudgeConfig(groups=2, identities=3, renders=2)
    images, labels = J.training_batch(cfg, 1, 5, 32)
    again, _ = J.training_batch(cfg, 1, 5, 32)
    assert images.shape == (12, 32, 32, 3) and np.array_equal(images, again)
    assert list(labels) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_training_reads_resumes_and_exports(tmp_path):
    from suti.training.checkpoints import Checkpointer, export_model

    cfg = J.JudgeConfig(width=4, embed_dim=8, steps=4, groups=2, identities=2, checkpoint_every=2, curve_every=2)
    readings = []
    graphdef, params, history = J.train_judge(cfg, 1, 32, ckpt=Checkpointer(tmp_path / "ck"),
                                              on_reading=lambda step, j: readings.append(step))
    assert readings == [2] and history[-1]["step"] == 4
    _, resumed, _ = J.train_judge(cfg, 1, 32, ckpt=Checkpointer(tmp_path / "ck"))  # resumes at step 4: no training
    assert all(np.allclose(a, b) for a, b in zip(jax_leaves(params), jax_leaves(resumed)))
    export_model(tmp_path / "model", params, {"judge": dataclasses.asdict(cfg), "resolution": 32})
    loaded = J.load_judge(tmp_path / "model")
    emb = loaded.embed_images(np.zeros((3, 32, 32, 3), np.uint8))
    assert emb.shape == (3, 8) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    top1 = J.heldout_top1(loaded, dataclasses.replace(cfg, eval_queries=1), 1, 32, 2)
    assert 0.0 <= top1 <= 1.0


def jax_leaves(tree):
    import jax

    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_missing_or_mismatched_judge_gives_a_reason(tmp_path):
    judge, reason = identity.load_checked_judge(None, {"width": 48, "embed_dim": 128}, 32)
    assert judge is None and reason.startswith("missing: no identity judge")
    judge, reason = identity.load_checked_judge(tmp_path, {"width": 48, "embed_dim": 128}, 32)
    assert judge is None and reason.startswith("missing: judge: pretrained: no released model")


def test_released_judge_reads_identity_and_copying():
    """Ground truth in the prompted scene re-identifies near 1 and copies nothing; a look-alike in the same scene (a
    method that draws the class and colour, not the subject) re-identifies near chance; a method that pastes its
    demonstrations (their scene, not the prompted one) copies at a rate near 1."""
    from suti.evaluation import copying
    from suti.evaluation.protocol import load_probe_reader
    from suti.world import prompts

    judge, judge_id = identity.load_checked_judge(RELEASED, {"width": 48, "embed_dim": 128}, 32)
    assert judge is not None and judge_id.startswith(J.NAME)
    probe = load_probe_reader(REPO / "pretrained/probe", 0.95)
    snow = next(p for p in prompts.PROMPTS if p.scene == (("background", "snow"),))
    subjects = {f"s{i}": world.make_subject(0, i) for i in range(12)}
    refs = identity.subject_references(judge, subjects, 0, 32, IdentityEval(lookalikes=15, references=8))
    rng = np.random.default_rng(0)
    rows, truth, impostor, pasted, demos = [], [], [], [], {}
    for name, subject in subjects.items():
        other = lookalikes(0, subject, 1, 1_900_000_000, 1_000_000)[0]  # outside the evaluation's look-alike range
        demos[name] = [world.render(subject, world.sample_scene(rng, background="beach", companion=None), 32)
                       for _ in range(3)]
        for k in range(2):
            scene = snow.sample_scene(rng)
            rows.append(dict(subject=name, category=snow.category, prompt_id=snow.prompt_id))
            truth.append(world.render(subject, scene, 32))
            impostor.append(world.render(other, scene, 32))
            pasted.append(demos[name][k])
    truth, impostor, pasted = np.stack(truth), np.stack(impostor), np.stack(pasted)
    good, bad = (identity.identity_scores(judge, x, rows, refs) for x in (truth, impostor))
    assert good["identity_accuracy"].mean() >= 0.8 and bad["identity_accuracy"].mean() <= 0.3
    assert good["id_similarity"].mean() > bad["id_similarity"].mean()
    assert copying.copy_rate(probe, truth, rows, demos).mean() <= 0.1
    assert copying.copy_rate(probe, pasted, rows, demos).mean() >= 0.9
    gap = lambda x: copying.demo_similarity_gap(judge, x, rows, demos, refs).mean()  # noqa: E731
    assert gap(pasted) > gap(truth)
    # image quality: ground truth in other draws of the prompted scene is near; blobs (its colours, no detail) far
    from suti.scoring.metrics import frechet_distance

    rows = [dict(r, seed=n, prompt_id=snow.prompt_id) for n, r in enumerate(rows)]
    reference = judge.embed_images(identity.truth_renders(rows, refs, 32))
    blobs = np.broadcast_to(truth.mean(axis=(1, 2), keepdims=True), truth.shape).astype(np.uint8)
    near, far = (frechet_distance(judge.embed_images(x), reference) for x in (truth, blobs))
    assert near < 0.5 * far


def test_no_training_or_filtering_code_path_loads_the_judge():
    """The judge only scores: of every command, only evaluation (and its report), its pretraining and its release
    reach its code."""
    readers = {"pretrain-judge", "evaluate", "score-eval", "report", "release-pretrained"}
    judge_files = {REPO / "src/suti/scoring/judge.py", REPO / "src/suti/evaluation/identity.py"}
    for command, module in COMMANDS.items():
        stage = f"suti.stages.{module.partition(':')[0]}"
        reached = set(codedeps.closure(REPO / "src", stage)) & judge_files
        assert (command in readers) or not reached, f"suti {command} reaches the identity judge: {reached}"
    for command in ("evaluate", "score-eval"):
        assert REPO / "src/suti/evaluation/identity.py" in set(codedeps.closure(
            REPO / "src", f"suti.stages.{COMMANDS[command]}"))


def test_in_context_identity_reads_the_demonstrated_identity_near_1_and_a_lookalike_near_chance(monkeypatch):
    """The released apprentice's provenance reading (`in_context_identity`, bench/in_context_identity.py): a
    generator that draws the demonstrated identity itself (its demonstrations, other scenes of it) re-identifies
    near 1; one that draws a look-alike of the same class and colour name re-identifies near chance."""
    import suti.apprentice.pipeline as pipeline
    from suti.pretrain.apprentice import render_pool
    from suti.pretrain.stream import FIRST_ID

    judge = J.load_judge(RELEASED)
    subjects = render_pool(12, 3, 1, 32, heldout=True)["subjects"]  # the reading's identities, in its order
    for draws_itself in (True, False):
        def fake_generate(pipe, shown, cls, prompt, n, seed, cfg):
            if draws_itself:
                return np.stack(shown[:n])
            # a look-alike from the training range (not among the reading's candidates)
            other = lookalikes(1, subjects[seed - 1], 1, FIRST_ID, 1_000_000)[0]
            assert other.cls == cls
            return np.stack([world.render(other, world.sample_scene(np.random.default_rng(k)), 32)
                             for k in range(n)])

        monkeypatch.setattr(pipeline, "generate", fake_generate)
        reading = identity.in_context_identity(None, judge, 1, 32, 12, None, demos=3, n=2)
        assert reading["identity_accuracy"].shape == reading["id_similarity"].shape == (12,)
        if draws_itself:
            assert reading["identity_accuracy"].mean() >= 0.8, reading
        else:
            assert reading["identity_accuracy"].mean() <= 0.25, reading
