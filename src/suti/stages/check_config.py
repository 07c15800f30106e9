"""`suti check-config`: a config as Snakemake would merge it (config/config.yaml, then each file), checked the way
planning checks it. Snakemake parses --configfile files itself before the workflow runs and reports a YAML error
without its file or line; this command names both."""

from __future__ import annotations

from suti import config_checks
from suti.config import ConfigError, deep_update, display_path, load_schema, load_yaml, validate
from suti.stages.common import log

HELP = "check config files (YAML syntax with file and line, schema, cross-section checks) as planning does"


def add_arguments(p) -> None:
    p.add_argument("files", nargs="*", help="config files, in --configfile order (each overrides the ones before)")
    p.add_argument("--defaults", default="config/config.yaml", help="the workflow's default config")
    p.add_argument("--schema", default="workflow/schemas/config.schema.yaml", help="the config schema")


def run(args) -> None:
    files = [args.defaults, *args.files]
    config: dict = {}
    for path in files:
        deep_update(config, load_yaml(path))
    try:
        validate(config, load_schema(args.schema))
        config_checks.check(config)
    except ConfigError as err:
        raise err.in_file([display_path(f) for f in files]) from None
    log.info("config ok: %s", " + ".join(files))
