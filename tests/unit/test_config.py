"""Config: defaults from the schema, one-line errors naming the key, strict sections, commented config files."""

from __future__ import annotations

import copy
import dataclasses
import re

import pytest
import yaml

from suti import config_checks
from suti.apprentice.config import ApprenticeConfig
from suti.config import (
    ConfigError,
    deep_update,
    from_dict,
    from_schema,
    load_config,
    load_schema,
    load_yaml,
    parse_params,
    schema_default,
    validate,
)
from suti.data.corpus import CorpusConfig
from suti.evaluation.config import EvaluationConfig
from suti.experts.config import ExpertsSection
from suti.mining.clusters import MiningConfig
from suti.scoring.clip import ClipSpec
from suti.scoring.clip_training import ScorerConfig
from suti.scoring.dino import DinoSpec
from suti.scoring.filtering import FilterConfig
from suti.scoring.probe import ProbeConfig
from suti.training.base_model import BaseConfig
from suti.training.config import TrainConfig
from suti.world.config import WorldConfig

SCHEMA_PATH = "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def schema(repo):
    return load_schema(repo / SCHEMA_PATH)


def test_empty_config_gets_every_default(schema):
    config = validate({}, schema)
    assert config["seed"] == 0
    assert config["corpus"]["noise"]["distractor"] == 0.1
    assert from_dict(CorpusConfig, config["corpus"]) == CorpusConfig()
    assert from_dict(WorldConfig, config["world"]) == WorldConfig()


@pytest.mark.parametrize("name", ["config.yaml", "micro.yaml", "paper.yaml", "sweep_seeds.yaml",
                                  "sweep_imitation.yaml"])
def test_shipped_configs_validate_and_their_overrides_take_effect(repo, name):
    paths = [repo / "config/config.yaml"] + ([repo / "config" / name] if name != "config.yaml" else [])
    config = load_config(paths, repo / SCHEMA_PATH)

    def leaves(node, prefix=()):
        for key, value in node.items():
            yield from leaves(value, (*prefix, key)) if isinstance(value, dict) else [((*prefix, key), value)]

    for key, value in leaves(load_yaml(paths[-1])):
        merged = config
        for part in key:
            merged = merged[part]
        assert merged == value, key
    assert from_dict(CorpusConfig, config["corpus"]).n_pages == config["corpus"]["n_pages"]


@pytest.mark.parametrize("override, expected", [
    ({"seed": -1}, "config error: seed = -1: -1 is less than the minimum of 0"),
    ({"world": {"resolution": 48}}, "config error: world.resolution = 48: must be one of [32, 64, 128, 256]"),
    ({"corpus": {"noise": {"corrupt_bytes": 0.9}}}, "config error: corpus.noise.corrupt_bytes = 0.9"),
    ({"corpus": {"n_page": 3}}, "config error: corpus: unknown key 'n_page' (allowed: "),
    ({"mining": {"min_cluster_size": "3"}}, "config error: mining.min_cluster_size = '3': '3' is not of type"),
    ({"corpus": {"images_per_page": [3]}}, "config error: corpus.images_per_page = [3]"),
])
def test_bad_values_stop_with_one_line_naming_the_key(schema, override, expected):
    with pytest.raises(ConfigError) as err:
        validate(override, schema)
    message = str(err.value)
    assert message.startswith(expected) and "\n" not in message


def test_the_default_config_states_every_schema_default(repo, schema):
    """config/config.yaml and the schema's defaults are one set: every key in each, with the same value."""
    defaults, stated = validate({}, schema), yaml.safe_load((repo / "config/config.yaml").read_text())

    def walk(a, b, path):
        assert set(a) == set(b), f"{path or 'top level'}: keys {sorted(set(a) ^ set(b))} in only one of them"
        for key in a:
            if isinstance(a[key], dict):
                walk(a[key], b[key], f"{path}{key}.")
            else:
                assert a[key] == b[key], f"{path}{key}: schema default {a[key]!r}, config.yaml {b[key]!r}"

    walk(defaults, stated, "")


SECTIONS = {  # every config section with its dataclass
    "world": WorldConfig, "corpus": CorpusConfig, "mining": MiningConfig, "probe": ProbeConfig,
    "scorer": ScorerConfig, "base": BaseConfig, "experts": ExpertsSection, "filter": FilterConfig,
    "evaluation": EvaluationConfig, "apprentice": ApprenticeConfig, "scoring.clip": ClipSpec,
    "scoring.dino": DinoSpec,
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_each_section_dataclass_has_the_schemas_keys_and_defaults(schema, section):
    """One source of defaults: a section's dataclass built with no arguments equals the schema's defaults for it
    (they read them from the schema; WorldConfig states its own, as suti.world is fingerprinted, and is checked)."""
    cls, defaults = SECTIONS[section], schema_default(section)
    assert set(defaults) == {f.name for f in dataclasses.fields(cls)}, f"{section}: keys differ"
    assert cls() == from_dict(cls, defaults), f"{section}: a dataclass default differs from the schema's"
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(cls, {"bogus": 1})


def test_from_schema_builds_a_section_with_overrides():
    train = from_schema(TrainConfig, "experts.train", steps=3)
    assert train.steps == 3 and train.learning_rate == schema_default("experts.train.learning_rate")


def test_every_schema_property_is_described(schema):
    def walk(node, path):
        for name, sub in node.get("properties", {}).items():
            assert sub.get("description"), f"{path}{name} has no description"
            walk(sub, f"{path}{name}.")
    walk(schema, "")


def test_every_key_in_the_default_config_is_commented(repo):
    for line in (repo / "config/config.yaml").read_text().splitlines():
        if re.match(r"^\s*[a-z_]+:", line):
            assert "#" in line, f"uncommented key: {line.strip()}"
    assert yaml.safe_load((repo / "config/config.yaml").read_text())


def test_params_parsing(tmp_path):
    assert parse_params('{"seed": 1}') == {"seed": 1}
    (tmp_path / "p.yaml").write_text("seed: 2\n")
    assert parse_params(f"@{tmp_path / 'p.yaml'}") == {"seed": 2}
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_params("{bad")
    with pytest.raises(ConfigError, match="no such params file"):
        parse_params("@/nonexistent.json")


# --- cross-section checks at planning (suti.config_checks) ---------------------------------------------------------


@pytest.fixture
def default_config(repo):
    return load_config([repo / "config/config.yaml"], repo / SCHEMA_PATH)


@pytest.mark.parametrize("override, expected", [
    ({"apprentice": {"demo_ablation": [1, 3, 9]}},
     "config error: apprentice.demo_ablation = [1, 3, 9]: the apprentice takes at most apprentice.max_demos = 5"),
    ({"apprentice": {"demos": 9}}, "config error: apprentice.demos = 9: the apprentice takes at most"),
    ({"filter": {"taus": [None, 0.1, 0.10]}}, "config error: filter.taus = [null, 0.1, 0.1]: 0.100 given twice"),
    ({"apprentice": {"taus": [0.1, 0.1]}}, "config error: apprentice.taus = [0.1, 0.1]: 0.100 given twice"),
    ({"apprentice": {"taus": [0.3], "main_tau": 0.3}}, "config error: apprentice.taus ['0.300'] are not in filter"),
    ({"apprentice": {"main_tau": 0.05}}, "config error: apprentice.main_tau must be one of apprentice.taus"),
    ({"experts": {"subjects": 10000}},
     "config error: experts.subjects = 10000: the corpus gives at most 640 training subjects (800 corpus.n_pages"),
    ({"scoring": {"clip": {"model": "ViT-NOPE-999"}}},
     "config error: scoring.clip.model: unknown open_clip model 'ViT-NOPE-999'"),
    ({"scoring": {"clip": {"model": "ViT-B-32", "pretrained": "nope_tag"}}},
     "config error: scoring.clip.model: open_clip 'ViT-B-32' has no pretrained tag 'nope_tag'"),
    ({"scoring": {"dino": {"model": "vit_nope_999"}}}, "config error: scoring.dino.model: unknown timm model"),
    ({"apprentice": {"init": "pretrained"}, "base": {"init": "scratch"}},
     "config error: apprentice.init = pretrained continues the released base model and reads demonstrations with the "
     "released small CLIP, which base.init replace here; set apprentice.init: scratch"),
    ({"base": {"init": "scratch", "text_tower": "ViT-NOPE-1:openai"}},
     "config error: base.text_tower: unknown open_clip model 'ViT-NOPE-1'"),
])
def test_cross_section_checks_stop_in_one_line_naming_the_key(default_config, override, expected):
    config = deep_update(default_config, override)
    with pytest.raises(ConfigError) as err:
        config_checks.check(config)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)
    assert err.value.key.split(".")[0] == next(iter(override))


def test_shipped_configs_pass_the_cross_section_checks(repo, default_config, monkeypatch, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty hub cache
    releases = repo / "pretrained"
    config_checks.check(default_config, releases=releases)
    micro = load_config([repo / "config/config.yaml", repo / "config/micro.yaml"], repo / SCHEMA_PATH)
    config_checks.check(micro, releases=releases)
    paper = load_config([repo / "config/config.yaml", repo / "config/paper.yaml"], repo / SCHEMA_PATH)
    # its ViT-B-32 weights are absent offline (below); at 128 px it loads no release and attends on its own levels
    config_checks.check(paper, models=False, releases=releases)
    assert config_checks.unet_sides(paper) == [32, 16, 8, 4]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="scoring.clip.model: no weights for open_clip 'ViT-B-32'"):
        config_checks.check(paper)


def test_attention_on_a_side_no_unet_level_has_stops_planning(default_config):
    """Attention is placed by feature-map side: at 128 px the default UNet's levels are 64 / 32 / 16 cells, and its
    sides 8 and 4 would place none, silently."""
    config = deep_update(copy.deepcopy(default_config), {"world": {"resolution": 128}})  # (deep_update: in place)
    with pytest.raises(ConfigError) as err:
        config_checks.check(config, releases=None)
    assert str(err.value) == ("config error: base.model.unet.attention_resolutions = [8, 4]: no UNet level is [4, 8] "
                              "cells wide (levels [64, 32, 16] at world.resolution 128, patch_size 2, 3 levels)")
    assert err.value.key == "base.model.unet.attention_resolutions"
    config = deep_update(copy.deepcopy(default_config), {"apprentice": {"cross_attention_resolutions": [32]}})
    with pytest.raises(ConfigError, match=r"apprentice.cross_attention_resolutions = \[32\]: no UNet level is \[32\]"):
        config_checks.check_attention_sides(config)
    config["apprentice"]["cross_attention_resolutions"] = [16]
    config_checks.check_attention_sides(config)


def test_a_release_that_does_not_match_stops_the_check_as_planning_does(repo, default_config):
    """`suti check-config` reads the provenance of the released models a config loads, as planning does."""
    releases = repo / "pretrained"
    config_checks.check_releases(default_config, releases)
    narrower = deep_update(copy.deepcopy(default_config), {"scorer": {"width": 64}})
    with pytest.raises(ConfigError) as err:
        config_checks.check_releases(narrower, releases)
    assert str(err.value).startswith(f"config error: scorer.init: pretrained: {releases}/clip does not match this "
                                     "config: scorer.width (config 64, released 128); set scorer.init: scratch")
    assert err.value.key == "scorer.init"
    trained_here = deep_update(narrower, {"scorer": {"init": "scratch"}, "apprentice": {"init": "scratch"}})
    config_checks.check_releases(trained_here, releases)  # the base model and probe releases still match
    with pytest.raises(ConfigError, match="probe.init: pretrained: no released model at"):
        config_checks.check_releases(trained_here, repo / "absent")


def test_real_corpus_pages_bound_the_experts(tmp_path, default_config):
    for page in ("a", "b", "c"):
        (tmp_path / page).mkdir()
    config = deep_update(default_config, {"corpus": {"source": "folder", "path": str(tmp_path)},
                                          "experts": {"subjects": 3}, "mining": {"heldout_fraction": 0.34}})
    with pytest.raises(ConfigError, match=f"at most 2 training subjects \\(3 pages in {tmp_path}"):
        config_checks.check_expert_subjects(config)
    (tmp_path / "m.csv").write_text("path,caption\na/1.png,x\na/2.png,y\nb/1.png,z\n")
    config["corpus"].update(source="manifest", path=str(tmp_path / "m.csv"))
    with pytest.raises(ConfigError, match="at most 1 training subjects \\(2 pages"):
        config_checks.check_expert_subjects(config)
    config["corpus"]["path"] = str(tmp_path / "absent.csv")
    config_checks.check_expert_subjects(config)  # unreadable at planning: build_corpus reports it
    config["corpus"]["path"] = str(tmp_path / "m.csv")
    config["mining"]["heldout_fraction"] = 0.9  # mining still keeps one of two subjects for training
    config["experts"]["subjects"] = 1
    config_checks.check_expert_subjects(config)


def test_yaml_errors_name_the_file_and_line(tmp_path, repo):
    (tmp_path / "bad.yaml").write_text("apprentice:\n  demos: [1,\n  x: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config([repo / "config/config.yaml", tmp_path / "bad.yaml"], repo / SCHEMA_PATH)
    assert str(err.value).startswith(f"config error: {tmp_path / 'bad.yaml'} line 4, column 1: ")
    assert "line 2" in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="holds a mapping of sections, not a list"):
        load_yaml(tmp_path / "list.yaml")


def test_an_error_names_the_config_file_that_set_the_key(tmp_path):
    (tmp_path / "a.yaml").write_text("apprentice:\n  demos: 9\n")
    (tmp_path / "b.yaml").write_text("seed: 1\n")
    err = ConfigError("config error: apprentice.demos = 9: too many", "apprentice.demos")
    named = err.in_file([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    assert str(named) == f"config error: {tmp_path / 'a.yaml'}: apprentice.demos = 9: too many"
    assert str(err.in_file([tmp_path / "b.yaml"])) == str(err)  # set by no file (a default, or --config)
