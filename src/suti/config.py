"""Config: validate against the JSON Schema (filling defaults), then turn sections into frozen dataclasses.

Config flows one way: config/*.yaml -> `validate` (defaults, one-line errors) -> one section per rule ->
`from_dict(SectionConfig, section)` -> pure functions.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import yaml

from suti.errors import SutiError


class ConfigError(SutiError):
    """A config value the schema does not allow; the message names the key and what is allowed."""


def _with_defaults(validator_class):
    """A validator that fills each missing property's `default` before validating it (JSON Schema FAQ recipe)."""
    import jsonschema

    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = json.loads(json.dumps(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _describe(error) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return f"config error: {key}: unknown key {', '.join(map(repr, extra))} (allowed: {', '.join(allowed)})"
    if error.validator == "enum":
        return f"config error: {key} = {error.instance!r}: must be one of {error.validator_value}"
    return f"config error: {key} = {error.instance!r}: {error.message}"


def load_schema(path: str | Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def validate(config: dict, schema: dict) -> dict:
    """Fill defaults into `config` (in place) and check it; raise ConfigError naming the first bad key."""
    import jsonschema  # imported here so that library users without the workflow extras can still load configs

    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.path))))
    if errors:
        deepest = max(errors, key=lambda e: len(e.absolute_path))
        raise ConfigError(_describe(deepest))
    return config


def load_config(paths: list[str | Path], schema_path: str | Path) -> dict:
    """Merge YAML files (later ones override earlier ones, key by key) and validate the result."""
    config: dict = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise ConfigError(f"config error: no such config file: {path}")
        with open(path) as f:
            deep_update(config, yaml.safe_load(f) or {})
    return validate(config, load_schema(schema_path))


def default_config(repo: str | Path = ".") -> dict:
    """config/config.yaml of a checkout (what the benches measure), validated against the schema where jsonschema is
    installed; a bare accelerator image may lack it, and config.yaml spells out every key."""
    repo = Path(repo)
    try:
        return load_config([repo / "config/config.yaml"], repo / "workflow/schemas/config.schema.yaml")
    except ImportError:
        with open(repo / "config/config.yaml") as f:
            return yaml.safe_load(f)


def deep_update(base: dict, override: dict) -> dict:
    """Recursively merge `override` into `base` (dicts merge, everything else replaces)."""
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


T = typing.TypeVar("T")


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build frozen dataclass `cls` from a (validated) dict; nested dataclass fields recurse, lists become tuples.

    Keys the dataclass does not know are an error, so a section and its dataclass cannot drift apart silently.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"config error: {cls.__name__}: unknown key(s) {sorted(unknown)} (allowed: {sorted(names)})")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def parse_params(text: str) -> dict:
    """Rule params arrive as a JSON string (or @path to a JSON/YAML file) on the command line."""
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.exists():
            raise ConfigError(f"config error: no such params file: {path}")
        return yaml.safe_load(path.read_text()) or {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"config error: --params is not valid JSON: {err}") from err
