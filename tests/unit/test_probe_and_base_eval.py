"""The probe's labels and training loop; base-model evaluation prompts; held-out combinations in training data."""

from __future__ import annotations

import numpy as np

from suti import world
from suti.data.training_set import ImageTextSet
from suti.evaluation import base_quality as bq
from suti.scoring.probe import (
    HEADS,
    ProbeConfig,
    evaluate_probe,
    labels_of,
    render_batch,
    train_probe,
)
from suti.stages.train_base import drop_heldout_combos, names_combo

HELD = [("mug", "beach"), ("ball", "snow")]


def test_probe_labels_follow_the_scene():
    subject = world.make_subject(0, 3)
    scene = world.Scene(background="jungle", recolour="blue", companion="crown", material="glass")
    labels = labels_of(subject, scene)
    assert HEADS["colour"][labels["colour"]] == "blue"
    assert HEADS["background"][labels["background"]] == "jungle"
    assert HEADS["companion"][labels["companion"]] == "crown"
    assert HEADS["class"][labels["class"]] == subject.cls
    images, batch_labels = render_batch(0, 0, 8, 32)
    assert images.shape == (8, 32, 32, 3) and images.min() >= -1 and images.max() <= 1
    assert set(batch_labels) == set(HEADS)


def test_probe_trains_and_reports_every_attribute():
    graphdef, params, history = train_probe(ProbeConfig(steps=3, batch_size=8, n_eval=100), 0, 32)
    assert len(history) == 1 and np.isfinite(history[0]["loss"])
    acc = evaluate_probe(graphdef, params, 100, 0, 32)
    assert set(acc) == set(HEADS) and all(0 <= v <= 1 for v in acc.values())


def test_heldout_combinations_are_dropped_by_caption():
    assert names_combo("a photo of a red mug on the beach", "mug", "beach")
    assert not names_combo("a photo of a red mug in the snow", "mug", "beach")
    assert not names_combo("a ball on the beach", "mug", "beach")
    ds = ImageTextSet(np.zeros((3, 2, 2, 3), np.uint8), ("my mug on the beach", "a ball in the snow", "a mug"),
                      ("a", "b", "c"))
    kept, dropped = drop_heldout_combos(ds, HELD)
    assert dropped == 2 and kept.texts == ("a mug",)


def test_eval_prompts_cover_heldout_and_seen_combinations():
    specs = bq.prompt_specs(HELD, 2, seed=0)
    assert specs == bq.prompt_specs(HELD, 2, seed=0)
    held = {(s.cls, s.background) for s in specs if s.heldout}
    seen = {(s.cls, s.background) for s in specs if not s.heldout}
    assert held == set(HELD) and not held & seen and len(seen) == len(world.CLASSES)
    assert specs[0].text.startswith("a photo of a ") and "on the beach" in specs[0].text
    renders = bq.oracle_renders(specs[:2], 3, 0, 32)
    assert renders.shape == (6, 32, 32, 3)
