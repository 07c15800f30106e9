# Config validation, environment and get_* helpers. No rule lives here.
import json
import os
import sys
from pathlib import Path

from suti.config import ConfigError, load_schema, validate

# Jobs inherit this environment: no hub retries for missing weights, one JAX compile cache for all rules, and the
# `suti` command of the interpreter that runs Snakemake.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(".cache/jax").resolve()))
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

try:
    validate(config, load_schema(Path(workflow.current_basedir) / "../schemas/config.schema.yaml"))
except ConfigError as err:
    sys.exit(str(err))

SRC = Path(workflow.basedir) / "src" / "suti"
CORE_MODULES = ["__init__.py", "config.py", "errors.py", "io.py", "stages/__init__.py", "stages/common.py"]


wildcard_constraints:
    shard=r"\d{3}",


def get_params(*sections):
    """The rule's own config sections (plus the seed) as JSON: a change to them re-runs the rule."""
    return json.dumps({"seed": config["seed"], **{s: config[s] for s in sections}}, sort_keys=True)


def get_code(stage, *packages):
    """The source files a rule runs (its stage module, library packages, core): edits re-run the rule."""
    files = [SRC / m for m in CORE_MODULES] + [SRC / "stages" / f"{stage}.py"]
    for package in packages:
        files.extend(sorted((SRC / package).rglob("*.py")))
    return [str(f.relative_to(workflow.basedir)) for f in files]


def get_corpus_shards():
    return expand("results/corpus/shard-{shard}.parquet", shard=[f"{i:03d}" for i in range(config["corpus"]["n_shards"])])


def get_corpus_source():
    """A real corpus's folder or manifest, so that a change to it re-runs build_corpus; nothing for SynthBench."""
    return [] if config["corpus"]["source"] == "synthbench" else [config["corpus"]["path"]]


def get_dreambench_root():
    return config["dreambench"]["root"]


def get_final_outputs():
    return [
        "results/corpus/summary.json",
        "results/mining/clusters.parquet",
        "results/mining/summary.json",
        "results/dreambench/images.parquet",
    ]
