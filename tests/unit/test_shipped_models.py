"""The released foundation models in pretrained/ (CLIP, probe, base model, in-context apprentice): each matches the
default config and world, loads, and still shows a figure of its quality on fresh renders of held-out identities
(small samples, so the floors sit well below the figures in their provenance.json)."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from suti.config import load_config
from suti.pretrain import release, stream

ARCHITECTURES = {"clip": ("scorer", lambda c: release.clip_architecture(c["scorer"])),
                 "probe": ("probe", lambda c: release.probe_architecture(c["probe"])),
                 "base": ("base", lambda c: release.base_architecture(c["base"])),
                 "apprentice": ("apprentice", release.apprentice_architecture)}


@pytest.fixture(scope="module")
def config(repo):
    return load_config([repo / "config/config.yaml"], repo / "workflow/schemas/config.schema.yaml")


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_each_release_matches_the_default_config_and_world(repo, config, name):
    section, architecture = ARCHITECTURES[name]
    assert config[section]["init"] == "pretrained"
    record = release.check(repo / "pretrained" / name, f"{section}.init", architecture(config), section,
                           config["world"]["resolution"])
    assert record["images_seen"] > 0 and record["git_commit"] and record["quality"]


def test_shipped_probe_reads_heldout_renders(repo):
    from suti.scoring.probe import evaluate_probe, load_probe

    graphdef, params, _ = load_probe(repo / "pretrained/probe")
    accuracy = evaluate_probe(graphdef, params, 256, 5, 32, functools.partial(stream.stream_subject, world_seed=1,
                                                                              heldout=True))
    assert accuracy["class"] >= 0.85 and accuracy["colour"] >= 0.85 and accuracy["background"] >= 0.9


def test_shipped_clip_reads_class_colour_and_background_zero_shot(repo):
    from suti.pretrain.clip import heldout_renders, zero_shot
    from suti.scoring.clip import ClipScorer

    scorer = ClipScorer(f"local-dir:{repo / 'pretrained/clip'}")
    assert scorer.id.startswith("open_clip:suti-pretrained-clip")
    scores = zero_shot(scorer, heldout_renders(200, 5, 32))
    recorded = json.loads((repo / "pretrained/clip/provenance.json").read_text())["quality"]
    for attribute in ("class", "colour", "background"):
        assert scores[f"zero_shot_{attribute}"] >= recorded[f"zero_shot_{attribute}"] - 0.12


def test_shipped_base_model_draws_the_prompted_colour_and_background(repo):
    from suti.evaluation import base_quality as bq
    from suti.models.pipeline import TextToImagePipeline
    from suti.scoring.probe import load_probe
    from suti.diffusion.config import SampleConfig

    pipe = TextToImagePipeline.load(repo / "pretrained/base")
    specs = bq.prompt_specs([("mug", "beach"), ("ball", "snow")], 4, 0)  # 8 held-out prompts, 8 seen prompts
    images = bq.sample_specs(pipe, specs, 1, 0, SampleConfig(steps=10, guidance=3.0))
    graphdef, params, _ = load_probe(repo / "pretrained/probe")
    hits = bq.correct(graphdef, params, images, specs, 1)
    assert np.mean(hits["background"]) >= 0.6 and np.mean(hits["colour"]) >= 0.5


def test_shipped_apprentice_draws_the_demonstrated_colour_of_identities_it_never_saw(repo):
    from suti.apprentice.pipeline import ApprenticePipeline
    from suti.diffusion.config import SampleConfig
    from suti.pretrain.apprentice import in_context_quality
    from suti.scoring.probe import load_probe

    pipe = ApprenticePipeline.load(repo / "pretrained/apprentice")
    quality, _ = in_context_quality(pipe, load_probe(repo / "pretrained/probe")[:2], 5, 32,
                                    SampleConfig(steps=10, guidance=3.0), identities=16, demos=3, n=1)
    read = quality["in_context"]   # the prompt names the class only: colour and pattern come from the demonstrations
    assert read["class"] >= 0.8 and read["colour"] >= 4 * quality["in_context_chance"]["colour"]


def test_the_released_apprentice_refuses_a_clip_or_base_model_it_was_not_trained_with(repo, tmp_path):
    """It points at the CLIP and base model released beside it instead of carrying copies; loading checks that they
    are the ones it was trained with."""
    import shutil

    from suti.apprentice.pipeline import ApprenticePipeline
    from suti.errors import SutiError

    for name in ("apprentice", "base", "clip"):
        shutil.copytree(repo / "pretrained" / name, tmp_path / name)
    meta_path, spec_path = tmp_path / "apprentice/meta.json", tmp_path / "apprentice/demo_encoder/spec.json"
    assert not (tmp_path / "apprentice/demo_encoder/model").exists()
    meta, spec = json.loads(meta_path.read_text()), json.loads(spec_path.read_text())
    assert meta["apprentice"]["frozen_from"] == "../base" and spec["shared"] == "../../clip"
    ApprenticePipeline.load(tmp_path / "apprentice")
    spec_path.write_text(json.dumps(dict(spec, id="open_clip:another-clip")))
    with pytest.raises(SutiError, match="is not the CLIP it was trained with"):
        ApprenticePipeline.load(tmp_path / "apprentice")
    spec_path.write_text(json.dumps(spec))
    meta["apprentice"]["frozen_digest"] = "0" * 16
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SutiError, match="is not the one this apprentice was trained with"):
        ApprenticePipeline.load(tmp_path / "apprentice")
