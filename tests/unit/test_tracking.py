"""Tracking: a stage run lands in its own experiment with params, tags, metrics by step and artifacts."""

from __future__ import annotations

import mlflow
import pytest

from suti import tracking


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SUTI_SWEEP_ID", "sweep-a")
    monkeypatch.delenv("SUTI_TRACKING", raising=False)
    return uri, tmp_path


def test_stage_run_logs_params_tags_metrics_and_artifacts(store):
    uri, tmp = store
    (tmp / "grid.png").write_bytes(b"png")
    params = {"seed": 3, "experts": {"train": {"steps": 7}, "lora": {"targets": ["attention"]}}}
    with tracking.stage_run("train_experts", params, shard="0001") as run:
        run.log_history([{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.25}])
        run.log_metrics({"seconds": 1.5, "nested": {"a": 1}, "skipped": "text", "missing": None})
        run.log_artifact(tmp / "grid.png")
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["suti/train_experts"], filter_string="tags.shard = '0001'")
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["params.experts.train.steps"] == "7" and row["params.experts.lora.targets"] == '["attention"]'
    assert row["tags.seed"] == "3" and row["tags.sweep"] == "sweep-a" and row["tags.stage"] == "train_experts"
    assert len(row["tags.config_hash"]) == 12 and row["tags.git_commit"]
    assert row["metrics.seconds"] == 1.5 and row["metrics.nested.a"] == 1
    history = mlflow.MlflowClient().get_metric_history(row["run_id"], "loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.5), (2, 0.25)]
    artifacts = mlflow.MlflowClient().list_artifacts(row["run_id"])
    assert [a.path for a in artifacts] == ["grid.png"]
    assert str(tmp) in row["artifact_uri"]  # beside the store, not in ./mlruns


def test_tracking_off_is_a_no_op(store, monkeypatch):
    monkeypatch.setenv("SUTI_TRACKING", "0")
    with tracking.stage_run("train_base", {"seed": 0}) as run:
        run.log_metrics({"x": 1.0})
    assert not (store[1] / "mlflow.db").exists()


def test_spooled_runs_reach_mlflow_only_when_published(store, monkeypatch):
    """Under the workflow a job only spools its run (no MLflow import, no store opened); `publish-runs` logs every
    spooled run once, a failed job's included with its artifacts, whose originals Snakemake has deleted by then."""
    from suti import cli

    uri, tmp = store
    spool = tmp / "spool"
    monkeypatch.setenv(tracking.SPOOL_ENV, str(spool))
    summary = tmp / "summary.json"
    summary.write_text("{}")
    with tracking.stage_run("train_base", {"seed": 1}) as run:
        run.log_history([{"step": 1, "loss": 0.5}])
    with pytest.raises(RuntimeError), tracking.stage_run("train_experts", {"seed": 1}, shard="0000") as run:
        run.log_artifact(summary)
        raise RuntimeError("job failed")
    summary.unlink()
    assert not (tmp / "mlflow.db").exists() and len(tracking.spooled(spool)) == 2
    assert cli.main(["publish-runs", "--spool", str(spool)]) == 0
    assert tracking.spooled(spool) == [] and cli.main(["publish-runs", "--spool", str(spool)]) == 0
    mlflow.set_tracking_uri(uri)
    base = mlflow.search_runs(experiment_names=["suti/train_base"])
    assert list(base["status"]) == ["FINISHED"] and list(base["metrics.loss"]) == [0.5]
    failed = mlflow.search_runs(experiment_names=["suti/train_experts"])
    assert list(failed["status"]) == ["FAILED"] and list(failed["tags.shard"]) == ["0000"]
    assert failed["start_time"].iloc[0] <= failed["end_time"].iloc[0]
    artifacts = mlflow.MlflowClient().list_artifacts(failed["run_id"].iloc[0])
    assert [a.path for a in artifacts] == ["summary.json"]
