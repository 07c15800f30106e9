"""The DAG through a real Slurm scheduler: a slice of the micro run (expert shards, per-tau filters and apprentices,
an evaluation) submitted with workflow/profiles/slurm to the one-node cluster of local_slurm.sh, beside the same slice
run locally. `make test-cluster` (root, or Slurm and munge already installed); not part of `make test`.

What it checks: every job ran as a Slurm job (the scheduler's own completion records), the figures equal the local
run's, a training job cancelled with scancel between two checkpoints is retried and resumes from its checkpoint, and
MLflow holds one finished run per job."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from pipeline_outputs import job_counts, numeric_leaves

pytestmark = pytest.mark.cluster

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "local_slurm.sh"
BIN = Path(sys.executable).parent
CONFIGS = ("config/micro.yaml", "slice.yaml", "local.yaml")
TARGETS = ("results/filter/none/summary.json", "results/filter/0.000/summary.json", "results/filter/0.050/summary.json",
           "results/apprentice/none/train.json", "results/apprentice/0.000/train.json",
           "results/eval/synthbench/suti-none-k2/scores.summary.json")
# Figures compared between the two runs: every number in these files but timings.
FIGURE_FILES = ("base/summary.json", "filter/none/summary.json", "filter/0.000/summary.json",
                "filter/0.050/summary.json", "apprentice/none/train.json", "apprentice/0.000/train.json",
                "eval/synthbench/suti-none-k2/scores.summary.json")
CANCELLED_RULE = "train_base"
STAGE_OF = {"train_apprentice_clusters": "train_apprentice", "distill_apprentice": "train_apprentice"}  # MLflow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running local Slurm (installed if missing), stopped after the module."""
    env = dict(os.environ, SUTI_SLURM_DIR=str(tmp_path_factory.mktemp("slurm")))
    for step in ("install", "start"):
        done = subprocess.run([str(SCRIPT), step], env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"local_slurm.sh {step} failed:\n{done.stdout}\n{done.stderr}"
    exports = subprocess.run([str(SCRIPT), "env"], env=env, capture_output=True, text=True, check=True).stdout
    env.update(re.findall(r"export (\w+)=(\S+)", exports))
    yield env
    subprocess.run([str(SCRIPT), "stop"], env=env, check=False)


def workflow_copy(repo: Path, work: Path, dreambench_root: Path) -> Path:
    for name in ("Snakefile", "workflow", "config", "src", "environment.yml", "requirements.txt", "pretrained"):
        src = repo / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
    shutil.copy(HERE / "slice.yaml", work / "slice.yaml")
    (work / "local.yaml").write_text(f"dreambench:\n  root: {dreambench_root}\n")
    return work


def snakemake_cmd(*args: str) -> list[str]:
    return [str(BIN / "snakemake"), *args, *TARGETS, "--configfile", *CONFIGS]


def run_env(base: dict) -> dict:
    return dict(base, PATH=f"{BIN}{os.pathsep}{base['PATH']}", HF_HUB_OFFLINE="1")


def checkpoint_steps(partial: Path) -> list[int]:
    return sorted(int(p.name) for p in partial.iterdir() if p.name.isdigit()) if partial.is_dir() else []


def cancel_mid_training(work: Path, env: dict, proc: subprocess.Popen, timeout: float = 900) -> dict:
    """Wait for the base model's first checkpoint under Slurm, then scancel its job: its id and the step reached."""
    partial, deadline = work / "results/base/model.partial", time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        steps = checkpoint_steps(partial)
        if steps:
            queue = subprocess.run(["squeue", "--noheader", "--states=RUNNING", "--format=%i|%k"], env=env,
                                   capture_output=True, text=True, check=True).stdout
            ids = [line.split("|")[0] for line in queue.splitlines() if f"rule_{CANCELLED_RULE}" in line]
            assert len(ids) == 1, f"expected one running {CANCELLED_RULE} job, squeue says:\n{queue}"
            subprocess.run(["scancel", ids[0]], env=env, check=True)
            return {"job": ids[0], "checkpoint_step": steps[-1]}
        time.sleep(0.2)
    pytest.fail(f"{CANCELLED_RULE} wrote no checkpoint under Slurm before the run ended or {timeout:.0f} s passed")


@pytest.fixture(scope="module")
def runs(cluster, repo, dreambench_root, tmp_path_factory):
    """The slice run locally, then through Slurm with its base model's training job cancelled once mid-way."""
    local = workflow_copy(repo, tmp_path_factory.mktemp("local"), dreambench_root)
    slurm = workflow_copy(repo, tmp_path_factory.mktemp("slurm-run"), dreambench_root)
    env, seconds = run_env(cluster), {}

    start = time.monotonic()
    # Each job at its declared threads, as under Slurm (--cpus-per-task): torch's CPU results depend on its thread
    # count, and the default profile runs every job at one.
    local_cmd = snakemake_cmd("--profile", "workflow/profiles/default", "--cores", "2", "--max-threads", "2")
    done = subprocess.run(local_cmd, cwd=local, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"local run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    seconds["local"] = time.monotonic() - start

    start = time.monotonic()
    cmd = snakemake_cmd("--profile", "workflow/profiles/slurm", "--slurm-status-command", "squeue",
                        "--slurm-init-seconds-before-status-checks", "2", "--latency-wait", "5")
    with (slurm / "snakemake.log").open("w") as log:
        proc = subprocess.Popen(cmd, cwd=slurm, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        cancelled = cancel_mid_training(slurm, env, proc)
        rc = proc.wait(timeout=3600)
    seconds["slurm"] = time.monotonic() - start
    assert rc == 0, f"Slurm run failed (rc {rc}):\n{(slurm / 'snakemake.log').read_text()[-4000:]}"

    records = completion_records(Path(cluster["SUTI_SLURM_DIR"]) / "jobcomp.log", slurm)
    summary = {"seconds": {k: round(v, 1) for k, v in seconds.items()}, "cancelled": cancelled,
               "slurm_jobs": dict(Counter(r["JobState"] for r in records)),
               "jobs_by_rule": dict(Counter(rule_of(slurm, r["JobId"]) for r in records))}
    print(f"\ncluster test: {json.dumps(summary)}")  # shown by make test-cluster (pytest -s)
    return {"local": local, "slurm": slurm, "records": records, "cancelled": cancelled,
            "log": done.stdout + done.stderr}


def completion_records(jobcomp: Path, workdir: Path) -> list[dict]:
    """Slurm's jobcomp/filetxt records (one line of key=value per finished job) of jobs that ran in `workdir`."""
    records = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in jobcomp.read_text().splitlines() if line.strip()]
    return [r for r in records if Path(r.get("WorkDir", "")).resolve() == workdir.resolve()]


def rule_of(work: Path, job_id: str) -> str:
    """The rule a Slurm job ran, from where the executor put its log: results/logs/slurm/rule_<rule>/.../<id>.log."""
    logs = list((work / "results/logs/slurm").glob(f"rule_*/**/{job_id}.log"))
    assert len(logs) == 1, f"Slurm job {job_id}: {len(logs)} logs"
    return logs[0].relative_to(work / "results/logs/slurm").parts[0].removeprefix("rule_")


def figures(path: Path) -> dict:
    return numeric_leaves(json.loads(path.read_text()), path.name, lists=True)


def test_every_job_ran_as_a_slurm_job(runs):
    """The scheduler's own records: each job the local run ran completed once as a Slurm job (the cancelled one
    once more)."""
    by_rule = Counter(rule_of(runs["slurm"], r["JobId"]) for r in runs["records"] if r["JobState"] == "COMPLETED")
    assert by_rule == Counter(job_counts(runs["log"]))
    assert by_rule["train_experts"] == 2 and by_rule["filter_samples"] == 3 and by_rule["train_apprentice"] == 2
    states = Counter(r["JobState"] for r in runs["records"])
    assert states == Counter({"COMPLETED": sum(by_rule.values()), "CANCELLED": 1}), states


def test_figures_equal_the_local_run(runs):
    for name in FIGURE_FILES:
        local, slurm = figures(runs["local"] / "results" / name), figures(runs["slurm"] / "results" / name)
        assert local and local == slurm, name


def test_a_cancelled_training_job_is_retried_and_resumes_from_its_checkpoint(runs):
    cancelled = runs["cancelled"]
    record = next(r for r in runs["records"] if r["JobId"] == cancelled["job"])
    assert record["JobState"] == "CANCELLED" and rule_of(runs["slurm"], cancelled["job"]) == CANCELLED_RULE
    retried = [r for r in runs["records"]
               if rule_of(runs["slurm"], r["JobId"]) == CANCELLED_RULE and r["JobState"] == "COMPLETED"]
    assert len(retried) == 1 and int(retried[0]["JobId"]) > int(cancelled["job"])
    resumed = re.findall(r"resuming from step (\d+)", (runs["slurm"] / "results/logs/train_base.log").read_text())
    assert resumed and int(resumed[0]) >= cancelled["checkpoint_step"] > 0, resumed
    assert not (runs["slurm"] / "results/base/model.partial").exists()  # the finished job removed its checkpoints


def test_mlflow_holds_one_finished_run_per_job(runs):
    """One finished run per completed job, in its stage's experiment (the apprentice's phases share
    suti/train_apprentice); the cancelled attempt left none."""
    import mlflow

    slurm = runs["slurm"]
    mlflow.set_tracking_uri(f"sqlite:///{slurm}/results/mlflow.db")
    jobs = Counter(STAGE_OF.get(rule, rule) for rule in (rule_of(slurm, r["JobId"]) for r in runs["records"]
                                                         if r["JobState"] == "COMPLETED"))
    logged = {e.name.removeprefix("suti/"): mlflow.search_runs(experiment_ids=[e.experiment_id])
              for e in mlflow.search_experiments() if e.name.startswith("suti/")}
    assert {stage: len(found) for stage, found in logged.items()} == jobs
    assert all((found["status"] == "FINISHED").all() for found in logged.values())
