"""SynthBench: determinism, labels that match the renders, distinct identities, prompts and captions."""

from __future__ import annotations

import colorsys
import dataclasses
import itertools

import numpy as np
import pytest

from suti import world
from suti.world import vocab
from suti.world.render import BACKGROUND_PAINTERS, _grid
from suti.world.subjects import make_subject


def test_vocabulary_sizes():
    assert len(world.CLASSES) >= 6
    assert {"jungle", "snow", "beach", "street", "wooden floor", "night sky"} <= set(world.BACKGROUNDS)


def test_world_is_deterministic():
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    for sid in (0, 5, 999):
        a, b = make_subject(3, sid), make_subject(3, sid)
        assert a == b
        sa, sb = world.sample_scene(rng_a), world.sample_scene(rng_b)
        assert sa == sb
        np.testing.assert_array_equal(world.render(a, sa), world.render(b, sb))
    assert make_subject(3, 1) != make_subject(4, 1)


def test_at_least_1000_distinct_identities_with_continuous_parameters():
    subjects = world.make_subjects(0, range(1200))
    keys = {(s.cls, round(s.hue, 6), round(s.aspect, 6), round(s.freq, 6), round(s.phase, 6)) for s in subjects}
    assert len(keys) == 1200
    assert set(s.cls for s in subjects) == set(world.CLASSES)
    assert set(s.colour for s in subjects) == set(world.COLOURS)


def test_same_class_and_colour_still_differ_visibly():
    subjects = world.make_subjects(0, range(3000))
    groups = {}
    for s in subjects:
        groups.setdefault((s.cls, s.colour, s.pattern), []).append(s)
    pairs = [g[:2] for g in groups.values() if len(g) >= 2][:40]
    assert len(pairs) >= 20
    for a, b in pairs:
        (ia, ma), (ib, mb) = (world.render(s, world.CANONICAL, 64, with_masks=True) for s in (a, b))
        union = np.maximum(ma["subject"], mb["subject"]) > 0.5
        diff = np.abs(ia.astype(int) - ib.astype(int))[union].mean()  # over the objects, in 0..255
        assert diff > 10.0, (a, b, diff)


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_render_resolutions(resolution):
    img = world.render(make_subject(0, 1), world.sample_scene(np.random.default_rng(0)), resolution)
    assert img.shape == (resolution, resolution, 3) and img.dtype == np.uint8
    assert img.std() > 5


def _mask_hue(img, mask):
    """Saturation-weighted circular mean hue (turns) of the fully covered pixels."""
    px = img[mask > 0.99].astype(float) / 255
    hsv = np.array([colorsys.rgb_to_hsv(*p) for p in px])
    ang = 2 * np.pi * hsv[:, 0]
    return (np.angle(np.sum(hsv[:, 1] * np.exp(1j * ang))) / (2 * np.pi)) % 1.0


def _hue_distance(a, b):
    d = abs(a - b) % 1.0
    return min(d, 1 - d)


def test_labels_match_renders_position_and_colour():
    rng = np.random.default_rng(1)
    solid = [s for s in world.make_subjects(0, range(400)) if s.pattern == "solid"][:25]
    for subject in solid:
        scene = dataclasses.replace(world.sample_scene(rng, companion_prob=0, shiny_prob=0), brightness=1.0)
        img, masks = world.render(subject, scene, 64, with_masks=True)
        m = masks["subject"]
        assert m.sum() > 30
        ys, xs = np.nonzero(m > 0.5)
        # the silhouette's bounding-box centre is near the labelled centre (shapes are roughly centred)
        assert abs((xs.min() + xs.max()) / 2 / 64 - scene.cx) < 0.2 * scene.scale + 0.03
        assert abs((ys.min() + ys.max()) / 2 / 64 - scene.cy) < 0.2 * scene.scale + 0.03
        assert _hue_distance(_mask_hue(img, m), subject.hue) < 0.05
        assert vocab.colour_name(subject.hue) == subject.colour


def test_labels_match_renders_background_and_companion():
    subject = make_subject(0, 2)
    rng = np.random.default_rng(2)
    for background in world.BACKGROUNDS:
        scene = world.sample_scene(rng, background=background, companion=None, brightness=1.0)
        img, masks = world.render(subject, scene, 64, with_masks=True)
        X, Y = _grid(64)
        expected = np.broadcast_to(BACKGROUND_PAINTERS[background](X, Y, scene.bg_var), (64, 64, 3))
        free = (masks["subject"] == 0)
        got = img[free].astype(float) / 255
        assert np.abs(got - np.clip(expected[free], 0, 1)).mean() < 0.01
    for companion in world.COMPANIONS:
        scene = world.sample_scene(rng, companion=companion)
        _, masks = world.render(subject, scene, 64, with_masks=True)
        assert masks["companion"].sum() > 5, companion


def test_recolour_prompt_changes_the_rendered_hue():
    subject = next(s for s in world.make_subjects(0, range(100)) if s.pattern == "solid" and s.colour != "blue")
    scene = world.Scene(recolour="blue")
    img, masks = world.render(subject, scene, 64, with_masks=True)
    assert _hue_distance(_mask_hue(img, masks["subject"]), world.COLOURS["blue"]) < 0.05
    assert world.render_appearance(subject, scene)["colour"] == "blue"


def test_prompts_follow_dreambench_convention_and_categories():
    assert {p.category for p in world.PROMPTS} == set(world.CATEGORIES)
    for p in world.PROMPTS:
        assert "{0} {1}" in p.template
        assert p.format("mug", "sks").count("sks mug") == 1
        assert "{" not in p.format("mug") and "  " not in p.format("mug") and "mug" in p.format("mug")
    jungle = next(p for p in world.PROMPTS if "jungle" in p.template)
    assert jungle.format("mug", "sks") == "a sks mug in the jungle"
    assert jungle.sample_scene(np.random.default_rng(0)).background == "jungle"
    ids = [p.prompt_id for p in world.PROMPTS]
    assert len(ids) == len(set(ids))


def test_captions_name_the_class_and_misses_do_not():
    rng = np.random.default_rng(0)
    for sid, _ in zip(itertools.count(), range(50)):
        subject = make_subject(0, sid)
        scene = world.sample_scene(rng)
        assert subject.cls in world.describe(subject, scene, rng).split()
        assert not set(world.miss(scene, rng).split()) & set(world.CLASSES)
