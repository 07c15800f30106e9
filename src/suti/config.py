"""Config: validate against the JSON Schema (filling defaults), then turn sections into frozen dataclasses.

Config flows one way: config/*.yaml -> `validate` (defaults, one-line errors) -> one section per rule ->
`from_dict(SectionConfig, section)` -> pure functions.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import os
import typing
from pathlib import Path
from typing import Any

import yaml

from suti.errors import SutiError

PREFIX = "config error: "


class ConfigError(SutiError):
    """A config value the schema does not allow; the message names the key and what is allowed. `key` (dotted, when
    known) lets the workflow name the config file that set it (`in_file`)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key

    def in_file(self, files: list[str | Path]) -> ConfigError:
        """The same error naming the last of `files` that sets its key (the one that took effect), if any does."""
        source = next((f for f in reversed(files) if self.key and _sets(load_yaml(f), self.key)), None)
        message = str(self)
        if source is None or not message.startswith(PREFIX):
            return self
        return ConfigError(f"{PREFIX}{source}: {message.removeprefix(PREFIX)}", self.key)


def _sets(data: dict, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


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
        key = ".".join(str(p) for p in deepest.absolute_path if not isinstance(p, int))
        raise ConfigError(_describe(deepest), key or None)
    return config


SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def fill_defaults(instance: dict, schema: dict) -> dict:
    """`instance` with the schema's defaults filled in where keys are absent, recursively (as `validate` does, without
    checking anything, so that it needs no jsonschema)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict):
            fill_defaults(instance[key], sub)
    return instance


@functools.cache
def _schema_defaults() -> dict:
    return fill_defaults({}, load_schema(SCHEMA))


def schema_default(path: str):
    """The schema's default at a dotted path (`"probe.steps"`). The schema is the one source of defaults: the section
    dataclasses read theirs from it, and config/config.yaml states the same values (a test checks)."""
    value = _schema_defaults()
    for key in path.split("."):
        value = value[key]
    return tuple(value) if isinstance(value, list) else copy.deepcopy(value)


def from_schema(cls: type[T], path: str, **overrides) -> T:
    """Dataclass `cls` holding the schema's defaults of section `path` (`"base.train"`), with `overrides`: how code
    and tests build a config a section would give."""
    return from_dict(cls, deep_update(schema_default(path), overrides))


def display_path(path: str | Path) -> str:
    """A config file's path as people typed it: relative to the working folder when inside it."""
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


def load_yaml(path: str | Path) -> dict:
    """A YAML mapping from a file; ConfigError in one line naming the file and the line of a syntax error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config error: no such config file: {display_path(path)}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark, context = getattr(err, "problem_mark", None), getattr(err, "context_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        if context is not None and getattr(err, "context", None):
            problem += f" ({err.context} at line {context.line + 1})"
        raise ConfigError(f"config error: {display_path(path)}{where}: {problem}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"config error: {display_path(path)}: a config file holds a mapping of sections, not a {type(data).__name__}")
    return data or {}


def load_config(paths: list[str | Path], schema_path: str | Path) -> dict:
    """Merge YAML files (later ones override earlier ones, key by key) and validate the result."""
    config: dict = {}
    for path in paths:
        deep_update(config, load_yaml(path))
    return validate(config, load_schema(schema_path))


def default_config(repo: str | Path = ".", overlays: tuple[str | Path, ...] = ()) -> dict:
    """config/config.yaml of a checkout (what the benches measure) with `overlays` merged over it, validated against
    the schema where jsonschema is installed; a bare accelerator image may lack it, and config.yaml spells out every
    key."""
    repo = Path(repo)
    paths = [repo / "config/config.yaml", *overlays]
    try:
        return load_config(paths, repo / "workflow/schemas/config.schema.yaml")
    except ImportError:
        config: dict = {}
        for path in paths:
            deep_update(config, load_yaml(path))
        return config


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
        return load_yaml(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"config error: --params is not valid JSON: {err}") from err
