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
from suti.training.base_model import drop_heldout_combos, names_combo

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


def test_accuracy_interval_treats_the_prompt_as_the_unit():
    specs = bq.prompt_specs(HELD, 2, seed=0)               # 16 held-out prompts, then 16 seen
    held = np.array([s.heldout for s in specs])
    uniform = {a: np.tile([True, False], (len(specs), 2)) for a in bq.ATTRIBUTES}    # every prompt 2 of 4 right
    assert bq.split_accuracy(uniform, specs)["heldout"]["class"] == 0.5
    assert bq.interval95(uniform, specs)["seen"]["colour"] == 0.0   # prompts agree: nothing varies between them
    # the same 50% as half the prompts always right and half never: samples of a prompt err together, so the
    # interval is that of 16 coin flips, not of 64
    clustered = {a: np.repeat((np.arange(len(specs)) % 2 == 0)[:, None], 4, axis=1) for a in bq.ATTRIBUTES}
    acc, ci = bq.split_accuracy(clustered, specs), bq.interval95(clustered, specs)
    k = int(held.sum())
    assert acc["heldout"]["background"] == 0.5
    assert np.isclose(ci["heldout"]["background"], 1.96 * np.std([0, 1] * (k // 2), ddof=1) / np.sqrt(k))


class _FakePipe:
    """sample_seeds from a rule: an image per (prompt, seed) as `draw` says."""

    def __init__(self, draw):
        self.draw = draw

    def sample_seeds(self, prompts, seeds, cfg):
        return np.stack([np.full((4, 4, 3), self.draw(p, int(s)), np.uint8) for p, s in zip(prompts, seeds)])


def test_class_word_effect_is_zero_when_the_class_word_is_ignored():
    ignores = _FakePipe(lambda prompt, seed: 10 * seed)
    assert bq.class_word_effect(ignores, None) == 0.0
    follows = _FakePipe(lambda prompt, seed: 10 * seed + 3 * world.CLASSES.index(prompt.split()[5]))
    assert np.isclose(bq.class_word_effect(follows, None), 3 / 10)   # per-class spread / per-seed spread
