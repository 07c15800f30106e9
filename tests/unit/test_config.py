"""Config: defaults from the schema, one-line errors naming the key, strict sections, commented config files."""

from __future__ import annotations

import re

import pytest
import yaml

from suti.config import (
    ConfigError,
    from_dict,
    load_config,
    load_schema,
    parse_params,
    validate,
)
from suti.data.corpus import CorpusConfig
from suti.mining.clusters import MiningConfig
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
    assert from_dict(MiningConfig, config["mining"]) == MiningConfig()
    assert from_dict(WorldConfig, config["world"]) == WorldConfig()


@pytest.mark.parametrize("name", ["config.yaml", "micro.yaml", "paper.yaml"])
def test_shipped_configs_validate(repo, name):
    paths = [repo / "config/config.yaml"] + ([repo / "config" / name] if name != "config.yaml" else [])
    config = load_config(paths, repo / SCHEMA_PATH)
    from_dict(CorpusConfig, config["corpus"])


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


def test_dataclass_and_section_cannot_drift(schema):
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(MiningConfig, {"bogus": 1})
    for section, cls in (("corpus", CorpusConfig), ("mining", MiningConfig), ("world", WorldConfig)):
        assert set(schema["properties"][section]["properties"]) == set(cls.__dataclass_fields__)


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
