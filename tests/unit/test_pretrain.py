"""Pretraining: identities disjoint from every experiment's, resumable training that ends with the same weights,
released models checked against the config and world (one line naming what differs), and the shipped models."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from suti import streams
from suti.config import load_config
from suti.data.corpus import CorpusConfig, iter_shards
from suti.errors import SutiError
from suti.pretrain import milestones, release, stream
from suti.world.config import WorldConfig


def test_pretraining_identities_are_disjoint_from_every_experiment(repo):
    config = load_config([repo / "config/config.yaml"], repo / "workflow/schemas/config.schema.yaml")
    from suti.config import load_schema

    world = load_schema(repo / "workflow/schemas/config.schema.yaml")["properties"]["world"]["properties"]
    largest_experiment_id = world["n_subjects"]["maximum"] + world["n_distractor_subjects"]["maximum"]
    assert largest_experiment_id < stream.FIRST_ID
    # a corpus's subjects are its page ids and distractors: all below FIRST_ID
    wcfg = WorldConfig(n_subjects=1000, n_distractor_subjects=50)
    pages = {r for t in iter_shards(0, wcfg, CorpusConfig(n_pages=20, n_shards=1)) for r in t.column("gt_subject_id").to_pylist()}
    assert pages and max(int(p) for p in pages) < wcfg.n_subjects + wcfg.n_distractor_subjects < stream.FIRST_ID
    assert config["world"]["n_subjects"] < stream.FIRST_ID
    # the stream's training and held-out draws lie above it, in two ranges of their own
    rng = np.random.default_rng(0)
    train = [stream.stream_subject(rng, 1).subject_id for _ in range(500)]
    heldout = [stream.stream_subject(rng, 1, heldout=True).subject_id for _ in range(500)]
    assert min(train) >= stream.FIRST_ID and max(train) < stream.FIRST_ID + stream.N_TRAIN_IDS <= min(heldout)
    # the probe's pretraining draws go through the same ranges
    from suti.scoring.probe import random_example

    subject, _ = random_example(rng, 10, functools.partial(stream.stream_subject, world_seed=1))
    assert subject.subject_id >= stream.FIRST_ID


def test_stream_batches_are_deterministic_and_never_show_heldout_combos():
    combos = [("mug", "beach"), ("ball", "snow")]
    a = stream.batch(3, streams.PRETRAIN_BASE, 7, 64, 32, combos)
    b = stream.batch(3, streams.PRETRAIN_BASE, 7, 64, 32, combos)
    np.testing.assert_array_equal(a["images"], b["images"])
    assert a["captions"] == b["captions"] and len(a["captions"]) == 64
    assert all(s.cls in c for s, c in zip(a["subjects"], a["captions"]))  # every caption names the class
    for step in range(20):
        batch = stream.batch(3, streams.PRETRAIN_BASE, step, 32, 16, combos, captions=False)
        assert not any((s.cls, sc.background) in combos for s, sc in zip(batch["subjects"], batch["scenes"]))


def test_the_apprentice_pool_shows_stream_identities_in_several_scenes():
    from suti.pretrain.apprentice import render_pool

    combos = [("mug", "beach"), ("ball", "snow")]
    pool = render_pool(40, 3, 1, 16, combos)
    np.testing.assert_array_equal(pool["images"], render_pool(40, 3, 1, 16, combos)["images"])  # deterministic
    assert pool["images"].shape == (120, 16, 16, 3) and np.array_equal(np.bincount(pool["identity"]), [3] * 40)
    ids = [s.subject_id for s in pool["subjects"]]
    assert len(set(ids)) == 40 and stream.FIRST_ID <= min(ids) and max(ids) < stream.FIRST_ID + stream.N_TRAIN_IDS
    for i, caption, scene in zip(pool["identity"], pool["captions"], pool["scenes"]):
        assert pool["class_nouns"][i] in caption and (pool["class_nouns"][i], scene.background) not in combos
    assert len({(sc.background, sc.cx) for sc in pool["scenes"]}) == 120   # every image its own scene
    heldout = render_pool(5, 2, 1, 16, combos, heldout=True)["subjects"]
    assert min(s.subject_id for s in heldout) >= stream.FIRST_ID + stream.N_TRAIN_IDS


def test_render_pool_workers_render_what_the_trainer_would_in_any_order():
    combos = [("mug", "beach")]
    with stream.RenderPool(2, 3, streams.PRETRAIN_BASE, 8, 16, combos) as pool:
        got = {step: pool(step) for step in (0, 1, 5, 6)}  # 5: steps skipped, as a resume does
    for step, b in got.items():
        want = stream.batch(3, streams.PRETRAIN_BASE, step, 8, 16, combos)
        np.testing.assert_array_equal(b["images"], want["images"])
        assert b["captions"] == want["captions"]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_continued_model_draws_the_stream_after_the_steps_it_saw(workers):
    """A model continued from a release (pretrain.base.init_from) sees new renders: its step s is the stream's step
    first_step + s, so it never retrains on what the release saw."""
    with stream.RenderPool(workers, 3, streams.PRETRAIN_BASE, 4, 16, (), first_step=10) as pool:
        got = {step: pool(step) for step in (0, 2)}
    for step, b in got.items():
        np.testing.assert_array_equal(b["images"], stream.batch(3, streams.PRETRAIN_BASE, 10 + step, 4, 16)["images"])
    from suti.stages.pretrain_base import continued_from

    record = {"config": {"pretrain": {"base": {"train": {"batch_size": 256}}}}, "images_seen": 1_408_000,
              "wall_seconds": 366.0, "hardware": {"cpus": 16}, "git_commit": "abc",
              "quality": {"generated": {"heldout": {"class": 0.75}}, "prompts": 64}}
    start = continued_from("pretrained/base", record)
    assert start["stream_steps"] == 5500 and start["images_seen"] == 1_408_000
    assert start["quality"] == {"generated": {"heldout": {"class": 0.75}}}


def _fake_release(tmp_path: Path, architecture: dict, resolution: int = 32) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w")
    record = release.provenance("suti-pretrained-test", architecture, resolution, {"a": 1}, 10, 1.0, {"q": 0.5})
    release.release(model, tmp_path / "pretrained" / "base", record)
    return tmp_path / "pretrained" / "base"


def test_release_records_provenance_and_check_accepts_its_own_config(tmp_path, repo):
    config = load_config([repo / "config/config.yaml"], repo / "workflow/schemas/config.schema.yaml")
    arch = release.base_architecture(config["base"])
    folder = _fake_release(tmp_path, arch)
    record = json.loads((folder / "provenance.json").read_text())
    for key in ("git_commit", "config_hash", "world_fingerprint", "images_seen", "wall_seconds", "hardware",
                "quality", "architecture"):
        assert key in record
    assert (folder / "weights.bin").read_bytes() == b"w"
    assert release.check(folder, "base.init", arch, "base", 32)["quality"] == {"q": 0.5}
    adopted = tmp_path / "results" / "model"
    release.adopt(folder, adopted, "base.init", arch, "base", 32)
    assert (adopted / "weights.bin").exists() and (adopted / "provenance.json").exists()


def test_a_resumed_training_names_the_commit_it_started_on(tmp_path, monkeypatch):
    monkeypatch.setattr(release, "git_commit", lambda: "aaaa")
    assert release.training_commit(tmp_path) == "aaaa"
    monkeypatch.setattr(release, "git_commit", lambda: "bbbb")  # resumed on a later commit
    assert release.training_commit(tmp_path) == "aaaa"


def test_a_mismatched_release_fails_in_one_line_naming_what_differs(tmp_path, repo, monkeypatch):
    config = load_config([repo / "config/config.yaml"], repo / "workflow/schemas/config.schema.yaml")
    arch = release.base_architecture(config["base"])
    folder = _fake_release(tmp_path, arch)
    changed = json.loads(json.dumps(arch))
    changed["model"]["unet"]["channels"] = 48
    with pytest.raises(SutiError, match=r"base.init: .*base\.model\.unet\.channels \(config 48, released 32\)") as err:
        release.check(folder, "base.init", changed, "base", 32)
    assert "\n" not in str(err.value) and "init: scratch" in str(err.value)
    with pytest.raises(SutiError, match=r"world.resolution \(config 64, released 32\)"):
        release.check(folder, "base.init", arch, "base", 64)
    with pytest.raises(SutiError, match="no released model"):
        release.check(tmp_path / "nowhere", "probe.init", {}, "probe", 32)
    # a changed world (here: its vocabulary) is caught by the fingerprint
    from suti import world

    monkeypatch.setattr(world, "CLASSES", world.CLASSES[::-1])
    with pytest.raises(SutiError, match="the world .* changed since release"):
        release.check(folder, "base.init", arch, "base", 32)


def test_clip_pretraining_resumes_to_the_same_weights(tmp_path):
    from suti.pretrain.clip import TrainingClip, heldout_renders, pretrain_clip, zero_shot
    from suti.scoring.clip_training import ScorerConfig

    cfg = ScorerConfig(embed_dim=16, width=32, layers=1, image_tower="resnet", resnet_width=4, context_length=16,
                       steps=4, batch_size=8, warmup_steps=1)
    whole, _ = pretrain_clip(cfg, 1, 32)
    pretrain_clip(cfg, 1, 32, ckpt_dir=tmp_path, checkpoint_every=2, stop_at=3)  # killed after step 3 (saved at 2)
    resumed, history = pretrain_clip(cfg, 1, 32, ckpt_dir=tmp_path, checkpoint_every=2)
    assert [h["step"] for h in history] == [3, 4]
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert (a == b).all(), name
    # learning-curve readings pause training at every curve_every steps without changing where it ends
    readings, renders = [], heldout_renders(12, 1, 32)
    curved, _ = pretrain_clip(cfg, 1, 32, ckpt_dir=tmp_path / "curve", checkpoint_every=2, curve_every=2,
                              on_reading=lambda step, m: readings.append((step, zero_shot(TrainingClip(m, 16),
                                                                                           renders))))
    assert [step for step, _ in readings] == [2, 4]
    assert set(readings[-1][1]) == {"zero_shot_class", "zero_shot_colour", "zero_shot_background"}
    for (name, a), b in zip(whole.state_dict().items(), curved.state_dict().values()):
        assert (a == b).all(), name
    with pytest.raises(ValueError, match="multiple of checkpoint_every"):
        pretrain_clip(cfg, 1, 32, ckpt_dir=tmp_path / "bad", checkpoint_every=2, curve_every=3)


def test_probe_pretraining_resumes_to_the_same_weights(tmp_path):
    from suti.scoring.probe import ProbeConfig, train_probe
    from suti.training.checkpoints import Checkpointer

    cfg, ids = ProbeConfig(steps=4, batch_size=4, width=4), functools.partial(stream.stream_subject, world_seed=1)
    _, whole, _ = train_probe(cfg, 1, 16, subject_fn=ids)
    train_probe(cfg, 1, 16, subject_fn=ids, ckpt=Checkpointer(tmp_path), stop_at=3, checkpoint_every=2)
    _, resumed, _ = train_probe(cfg, 1, 16, subject_fn=ids, ckpt=Checkpointer(tmp_path), checkpoint_every=2)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_base_pretraining_resumes_to_the_same_weights(tmp_path):
    from suti.config import from_dict
    from suti.models.clip_text import ClipTextTower
    from suti.pretrain import base
    from suti.training.base_model import BaseConfig, model_config
    from suti.training.checkpoints import Checkpointer

    tower = ClipTextTower.random(16, 1, 2, 16)
    cfg = from_dict(BaseConfig, {"model": {"unet": {"patch_size": 4, "channels": 8, "channel_mult": [1, 2],
                                                     "attention_resolutions": [4], "film": True, "pool": "eot",
                                                     "cross_attention_resolutions": [4]}, "text_encoder": "clip"},
                                 "train": {"batch_size": 2, "steps": 4, "warmup_steps": 1, "checkpoint_every": 2,
                                           "log_every": 1, "min_snr_gamma": 0.0},
                                 "heldout_combos": [["mug", "beach"]]})
    mcfg = model_config(cfg.model, 16, tower)
    tokenizer, graphdef, params = base.init(mcfg, 1, tower)
    batches = base.stream_batches(tokenizer, cfg, 1, 16)
    whole, _ = base.train_segment(graphdef, params, tokenizer, cfg, 1, batches, None, 4)
    base.train_segment(graphdef, params, tokenizer, cfg, 1, batches, Checkpointer(tmp_path), 3)  # killed at step 3
    resumed, history = base.train_segment(graphdef, params, tokenizer, cfg, 1, batches, Checkpointer(tmp_path), 4)
    assert [h["step"] for h in history] == [1, 2, 3, 4]  # steps 1-2 from the checkpoint, 3-4 trained again
    for a, b in zip(jax.tree.leaves(whole["ema"]), jax.tree.leaves(resumed["ema"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert milestones(4000, 1000) == [1000, 2000, 3000, 4000] and milestones(5, 0) == [5]
