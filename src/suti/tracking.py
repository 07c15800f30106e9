"""The only module that talks to MLflow: one run per stage job, in one experiment per stage.

Where runs go: `MLFLOW_TRACKING_URI` (the workflow sets it from `tracking.uri` in the config), else a local sqlite
store `results/mlflow.db` with artifacts beside it in `results/mlflow-artifacts/`. `SUTI_TRACKING=0` turns
tracking off. MLflow only records: nothing in the pipeline reads it back.

A job records its run (params, tags, metrics by step, artifacts, times, status) as a folder in a spool, and
`publish` logs spooled runs to MLflow. Importing MLflow and opening its store costs ~5 s, more than many jobs
take, so under Snakemake (`SUTI_TRACKING_SPOOL` set by the workflow) jobs only spool, and the workflow publishes
them all in one process when it ends, failed or not (`onsuccess` / `onerror`; `suti publish-runs` by hand). A job
run outside the workflow publishes its own run as it ends.

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
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

log = logging.getLogger("suti.tracking")

DEFAULT_URI = "sqlite:///results/mlflow.db"
DEFAULT_SPOOL = "results/mlflow-spool"
SPOOL_ENV = "SUTI_TRACKING_SPOOL"
PREFIX = "suti"
RECORD = "record.json"
BATCH = 100  # MLflow takes at most 100 params (and 1,000 metrics) per log_batch call


def _now_ms() -> int:
    return int(time.time() * 1000)


class Run:
    """What a stage logs to: it fills a run record (a no-op when tracking is off)."""

    def __init__(self, record: dict | None = None, folder: Path | None = None):
        self._record, self._folder = record, folder

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        if self._record is None:
            return
        now = _now_ms()
        self._record["metrics"].extend([k, float(v), step or 0, now] for k, v in _flatten(metrics).items()
                                       if isinstance(v, (int, float)) and not isinstance(v, bool))

    def log_history(self, history: list[dict], step_key: str = "step") -> None:
        """A training curve: each row's numbers as metrics at its step."""
        for row in history:
            self.log_metrics({k: v for k, v in row.items() if k != step_key}, step=int(row[step_key]))

    def log_artifact(self, path: str | Path) -> None:
        """Copied into the record at once: Snakemake deletes a failed job's outputs before the run is published."""
        if self._record is None or not Path(path).is_file():
            return
        name = Path(path).name
        shutil.copy(path, self._folder / name)
        self._record["artifacts"].append(name)


_ACTIVE: list[Run] = []


def active() -> Run:
    """The run of the current `stage_run` block (a no-op Run outside one)."""
    return _ACTIVE[-1] if _ACTIVE else Run()


def enabled() -> bool:
    return os.environ.get("SUTI_TRACKING", "1") not in ("0", "false", "no")


@contextlib.contextmanager
def stage_run(stage: str, params: dict, **tags) -> Iterator[Run]:
    """A run in MLflow experiment `suti/<stage>` with the stage's config as params and the standard tags, spooled
    (under the workflow) or published as the block ends; an exception marks it FAILED.

    Args:
      stage: the rule's name (train_base, train_experts, ...).
      params: the config sections the job received (logged flattened, e.g. `experts.train.steps`).
      tags: extra tags (shard, tau, demos); None values are left out.
    """
    if not enabled():
        yield Run()
        return
    spool = os.environ.get(SPOOL_ENV)
    private = not spool  # no workflow to publish it later: a private spool, published below
    with contextlib.ExitStack() as stack:
        if private:
            spool = stack.enter_context(tempfile.TemporaryDirectory(prefix="suti-run-"))
        record, folder = _new_record(stage, params, tags), _staging_folder(Path(spool), stage)
        run = Run(record, folder)
        _ACTIVE.append(run)
        try:
            yield run
        except BaseException:
            record["status"] = "FAILED"
            raise
        finally:
            _ACTIVE.pop()
            record["end_ms"] = _now_ms()
            (folder / RECORD).write_text(json.dumps(record))
            folder.rename(folder.with_name(folder.name.removeprefix(".")))  # complete: publishable
            if private:
                publish(spool)


def _new_record(stage: str, params: dict, tags: dict) -> dict:
    all_tags = {"stage": stage, "seed": params.get("seed"), "git_commit": git_commit(),
                "config_hash": config_hash(params), "sweep": os.environ.get("SUTI_SWEEP_ID", "default"), **tags}
    flat = {k: json.dumps(v) if isinstance(v, (list, tuple)) else v for k, v in _flatten(params).items()}
    return {"stage": stage, "run_name": _run_name(stage, tags),
            "tags": {k: str(v) for k, v in all_tags.items() if v is not None},
            "params": {k: str(v)[:6000] for k, v in flat.items()},
            "start_ms": _now_ms(), "end_ms": None, "status": "FINISHED", "metrics": [], "artifacts": []}


def _staging_folder(spool: Path, stage: str) -> Path:
    """A hidden folder until the record is complete; names sort by start time."""
    spool.mkdir(parents=True, exist_ok=True)
    folder = spool / f".{time.time_ns():020d}-{os.getpid()}-{stage}"
    folder.mkdir()
    return folder


def spooled(spool: str | Path) -> list[Path]:
    """The complete run records in a spool, oldest first."""
    spool = Path(spool)
    if not spool.is_dir():
        return []
    return sorted(p for p in spool.iterdir() if not p.name.startswith(".") and (p / RECORD).is_file())


def publish(spool: str | Path = DEFAULT_SPOOL) -> int:
    """Log every complete record in `spool` to MLflow, oldest first, each removed once logged; the number logged.
    MLflow is imported only when there is something to log."""
    records = spooled(spool)
    if not records:
        return 0
    import mlflow  # ~2 s, and opening a sqlite store ~2 s more: paid once per publish
    from mlflow.entities import Metric, Param

    uri = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_URI)
    client = mlflow.MlflowClient(uri)
    experiments: dict[str, str] = {}
    for folder in records:
        record = json.loads((folder / RECORD).read_text())
        stage = record["stage"]
        if stage not in experiments:
            experiments[stage] = _experiment_id(client, uri, stage)
        run_id = client.create_run(experiments[stage], start_time=record["start_ms"], tags=record["tags"],
                                   run_name=record["run_name"]).info.run_id
        params = [Param(k, v) for k, v in record["params"].items()]
        metrics = [Metric(k, v, ts, step) for k, v, step, ts in record["metrics"]]
        for i in range(0, max(len(params), len(metrics)), BATCH):
            client.log_batch(run_id, metrics=metrics[i:i + BATCH], params=params[i:i + BATCH])
        for name in record["artifacts"]:
            client.log_artifact(run_id, str(folder / name))
        client.set_terminated(run_id, record["status"], end_time=record["end_ms"])
        shutil.rmtree(folder)
    log.debug("published %d run(s) to %s", len(records), uri)
    return len(records)


def _experiment_id(client, uri: str, stage: str) -> str:
    name = f"{PREFIX}/{stage}"
    with _store_lock(uri):  # two publishers must not create (migrate) one sqlite store at the same time
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        return client.create_experiment(name, artifact_location=_artifact_location(uri, stage))


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
