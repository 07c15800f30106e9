"""The only module that talks to MLflow: one run per stage job, in one experiment per stage.

Where runs go: `MLFLOW_TRACKING_URI` (the workflow sets it from `tracking.uri` in the config), else a local sqlite
store `results/mlflow.db` with artifacts beside it in `results/mlflow-artifacts/`. `SUTI_TRACKING=0` turns
tracking off. MLflow only records: nothing in the pipeline reads it back.

Every run is tagged with what makes an ablation one query: stage, shard, tau, demos, seed, git commit, config hash
and sweep id (`SUTI_SWEEP_ID`, e.g. set per `dvc exp run`), e.g.
`mlflow.search_runs(experiment_names=["suti/train_experts"], filter_string="tags.sweep = 'a'")`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Iterator

log = logging.getLogger("suti.tracking")

DEFAULT_URI = "sqlite:///results/mlflow.db"
PREFIX = "suti"


class Run:
    """What a stage logs to; a no-op when tracking is off."""

    def __init__(self, mlflow=None):
        self._mlflow = mlflow

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        if self._mlflow is None:
            return
        numeric = {k: float(v) for k, v in _flatten(metrics).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if numeric:
            self._mlflow.log_metrics(numeric, step=step)

    def log_history(self, history: list[dict], step_key: str = "step") -> None:
        """A training curve: each row's numbers as metrics at its step."""
        for row in history:
            self.log_metrics({k: v for k, v in row.items() if k != step_key}, step=int(row[step_key]))

    def log_artifact(self, path: str | Path) -> None:
        if self._mlflow is not None and Path(path).exists():
            self._mlflow.log_artifact(str(path))


_ACTIVE: list[Run] = []


def active() -> Run:
    """The run of the current `stage_run` block (a no-op Run outside one)."""
    return _ACTIVE[-1] if _ACTIVE else Run()


def enabled() -> bool:
    return os.environ.get("SUTI_TRACKING", "1") not in ("0", "false", "no")


@contextlib.contextmanager
def stage_run(stage: str, params: dict, **tags) -> Iterator[Run]:
    """An MLflow run in experiment `suti/<stage>` with the stage's config as params and the standard tags.

    Args:
      stage: the rule's name (train_base, train_experts, ...).
      params: the config sections the job received (logged flattened, e.g. `experts.train.steps`).
      tags: extra tags (shard, tau, demos); None values are left out.
    """
    if not enabled():
        yield Run()
        return
    with _tracked(stage, params, tags) as run:
        _ACTIVE.append(run)
        try:
            yield run
        finally:
            _ACTIVE.pop()


@contextlib.contextmanager
def _tracked(stage: str, params: dict, tags: dict) -> Iterator[Run]:
    import mlflow  # imported here: ~2 s, and only tracked jobs pay it

    uri = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)
    mlflow.set_tracking_uri(uri)
    name = f"{PREFIX}/{stage}"
    with _store_lock(uri):  # parallel jobs must not create (migrate) one sqlite store at the same time
        if mlflow.get_experiment_by_name(name) is None:
            mlflow.create_experiment(name, artifact_location=_artifact_location(uri, stage))
        mlflow.set_experiment(name)
    all_tags = {"stage": stage, "seed": params.get("seed"), "git_commit": git_commit(),
                "config_hash": config_hash(params), "sweep": os.environ.get("SUTI_SWEEP_ID", "default"), **tags}
    with mlflow.start_run(run_name=_run_name(stage, tags), tags={k: str(v) for k, v in all_tags.items()
                                                                  if v is not None}):
        flat = {k: json.dumps(v) if isinstance(v, (list, tuple)) else v for k, v in _flatten(params).items()}
        mlflow.log_params({k: str(v)[:6000] for k, v in flat.items()})
        yield Run(mlflow)


def config_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _run_name(stage: str, tags: dict) -> str:
    return "-".join([stage] + [f"{k}{v}" for k, v in sorted(tags.items()) if v is not None])


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """An exclusive file lock beside a local sqlite store (nothing for remote servers)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _artifact_location(uri: str, stage: str) -> str | None:
    """Local stores keep artifacts beside the database (not in ./mlruns); remote servers choose their own."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlflow-artifacts" / stage).as_uri()
