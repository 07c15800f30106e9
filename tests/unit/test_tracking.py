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
