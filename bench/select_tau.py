"""Choose the main comparison's filter threshold (apprentice.main_tau) on validation subjects, not on the test ones.

The comparison with DreamBooth reads the first `evaluation.synthbench.subjects` held-out subjects (20); the tau
ablation reads them too, so picking the best tau from it would pick on the test set. This script evaluates every
tau's apprentice (undistilled, at apprentice.demos demonstrations) on every held-out subject, through the pipeline's
own `evaluate` rule (methods `suti-<tau>-k<K>-wide`, on `evaluation.synthbench.demo_subjects`), and reports the means
over the held-out subjects outside the comparison's: the validation subjects. Each mean has a 95% bootstrap interval
over those subjects, and the differences to the best tau are paired (the same subjects, prompts and seeds).

Needs a finished run (`make run`); its extra evaluations land in results/eval/synthbench/ beside the run's (~100 s
each on 2 cores). Run: `python bench/select_tau.py [--configfile my.yaml ...]`; writes bench/out/select_tau.json.
Measured 2026-12-02 on the default run with main_tau 0.1 (seed 0, 138 validation subjects): CLIP-I / CLIP-T / subject
/ prompt accuracy none 0.707 / 0.523 / 0.867 / 0.878, 0 0.710 / 0.524 / 0.867 / 0.885, 0.1 0.712 / 0.531 / 0.885 /
0.894, 0.2 0.723 / 0.543 / 0.892 / 0.907; CLIP-I paired against 0.2: -0.016 / -0.013 / -0.011 [-0.015, -0.006]. Tau
0.2 is best on every metric, hence the default main_tau.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from suti.config import default_config
from suti.evaluation import protocol
from suti.evaluation.config import SynthBenchEval
from suti.evaluation.plans import synthbench_plan
from suti.scoring.metrics import tau_name

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("clip_i", "clip_t", "subject_accuracy", "prompt_accuracy")


def comparison_subjects(clusters: Path, config: dict) -> set[str]:
    """The held-out subjects the comparison with DreamBooth reads (the test subjects)."""
    rows = pq.read_table(clusters, columns=["cluster_id", "split", "class_noun"]).to_pylist()
    heldout = sorted({(r["cluster_id"], r["class_noun"]) for r in rows if r["split"] == "heldout"})
    cfg = SynthBenchEval(subjects=config["evaluation"]["synthbench"]["subjects"], prompts_per_category=1,
                         n_per_prompt=1)
    return {r["subject"] for r in synthbench_plan(heldout, cfg, int(config["seed"]))}


def per_subject(scores: Path, exclude: set[str]) -> dict[str, dict[str, float]]:
    """{metric: {subject: mean over its images}} for the subjects not in `exclude`."""
    rows = [r for r in pq.read_table(scores).to_pylist() if r["subject"] not in exclude]
    out = {}
    for m in METRICS:
        by = {}
        for r in rows:
            if r[m] is not None:
                by.setdefault(r["subject"], []).append(r[m])
        out[m] = {s: float(np.mean(v)) for s, v in by.items()}
    return out


def interval(by_subject: dict[str, float], subjects: list[str]) -> tuple[float, float, float]:
    """(mean, low, high) over `subjects` of one value each: the evaluation's own bootstrap over subjects."""
    names = [s for s in subjects if s in by_subject]
    return protocol.bootstrap_ci(np.array([by_subject[s] for s in names]), np.array(names), n_boot=2000, seed=0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configfile", nargs="*", default=[], help="the run's config overrides (as given to snakemake)")
    p.add_argument("--out", default="bench/out/select_tau.json")
    args = p.parse_args()
    os.chdir(ROOT)
    config = default_config(ROOT, tuple(args.configfile))  # the run's config, as Snakemake merges it
    apprentice = config["apprentice"]
    taus, k = [tau_name(t) for t in apprentice["taus"]], int(apprentice["demos"])
    targets = [f"results/eval/synthbench/suti-{tau}-k{k}-wide/scores.parquet" for tau in taus]
    synthbench = config["evaluation"]["synthbench"]
    if synthbench["subjects"] is None or (synthbench["demo_subjects"] or 1e9) <= synthbench["subjects"]:
        sys.exit("select_tau: evaluation.synthbench.demo_subjects must exceed evaluation.synthbench.subjects "
                 "(the subjects beyond the comparison's are the validation subjects)")
    cmd = [sys.executable, "-m", "snakemake", "--profile", "workflow/profiles/default", *targets]
    if args.configfile:
        cmd += ["--configfile", *args.configfile]
    subprocess.run(cmd, check=True, env=dict(os.environ, HF_HUB_OFFLINE="1"))
    table = summarise(taus, targets, config, k)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(table, indent=1))


def summarise(taus: list[str], targets: list[str], config: dict, k: int) -> dict:
    """Print and return every tau's means over the validation subjects, and the best tau."""
    test = comparison_subjects(Path("results/mining/clusters.parquet"), config)
    by_tau = {tau: per_subject(Path(t), test) for tau, t in zip(taus, targets)}
    subjects = sorted(set.intersection(*(set(v["clip_i"]) for v in by_tau.values())))
    table = {}
    for tau, scores in by_tau.items():
        table[tau] = {m: interval(scores[m], subjects) for m in METRICS}
    best = max(taus, key=lambda t: table[t]["clip_i"][0] + table[t]["clip_t"][0])
    print(f"{len(subjects)} validation subjects (held out, not the comparison's {len(test)}), {k} demonstrations")
    print("| tau | " + " | ".join(METRICS) + " | CLIP-I - best's (paired) |")
    print("|---" * (len(METRICS) + 2) + "|")
    for tau in taus:
        diff = {s: by_tau[tau]["clip_i"][s] - by_tau[best]["clip_i"][s] for s in subjects}
        mean, lo, hi = interval(diff, subjects)
        cells = [f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]" for v in table[tau].values()]
        print(f"| {tau} | " + " | ".join(cells) + f" | {mean:+.3f} [{lo:+.3f}, {hi:+.3f}] |")
    main_tau = tau_name(config["apprentice"]["main_tau"])
    print(f"best (highest CLIP-I + CLIP-T): tau {best}; config apprentice.main_tau: {main_tau}")
    return {"subjects": len(subjects), "demos": k, "best": best, "table": table}


if __name__ == "__main__":
    main()
