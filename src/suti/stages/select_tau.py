"""`suti select-tau`: the main filter threshold chosen on the validation split (the held-out mined clusters), never on
the test split: each tau's apprentice (undistilled, at apprentice.demos demonstrations) by `evaluation.select_tau`'s
metric, with its 95% interval over subjects and its paired difference to the best tau. The choice is a
recommendation beside the configured `apprentice.main_tau` (which the run's DAG is built from): the report says
whether they agree."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from suti.evaluation import paired, protocol
from suti.scoring.metrics import tau_name
from suti.stages.common import add_params_argument, log, write_summary

HELP = "choose the main filter threshold on the validation split's tau ablation"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--scores", required=True, nargs="+", help="each tau's validation scores (suti-<tau>-k<K>)")
    p.add_argument("--out", required=True, help="output JSON: the choice, each tau's mean and paired difference "
                                                "(its one-row parquet beside it)")


def choose(by_tau: dict[str, list[dict]], metric: str, n_boot: int, seed: int) -> dict:
    """{"metric", "chosen", "taus": [{tau, mean, low, high, subjects, diff, diff_low, diff_high}]}: the tau with the
    highest mean of `metric` over the validation subjects, and every tau's paired difference to it."""
    rows = []
    for tau, scores in by_tau.items():
        values = np.array([np.nan if r.get(metric) is None else r[metric] for r in scores], np.float64)
        subjects = np.array([r["subject"] for r in scores])
        mean, low, high = protocol.bootstrap_ci(values, subjects, n_boot, seed)
        rows.append(dict(tau=tau, mean=mean, low=low, high=high, subjects=len(set(subjects))))
    best = max(rows, key=lambda r: -np.inf if np.isnan(r["mean"]) else r["mean"])
    for row in rows:
        diff = paired.paired_difference(by_tau[row["tau"]], by_tau[best["tau"]], metric, n_boot, seed) or {}
        row.update({k: diff.get(k, float("nan")) for k in ("diff", "diff_low", "diff_high")})
    return {"metric": metric, "chosen": best["tau"], "taus": rows}


def run(args) -> None:
    by_tau = {}
    for path in args.scores:
        scores = pq.read_table(path).to_pylist()
        if scores:
            by_tau[scores[0]["tau"]] = scores
    cfg = args.params["evaluation"]["select_tau"]
    out = choose(by_tau, cfg["metric"], int(args.params["evaluation"]["bootstrap"]), int(args.params["seed"]))
    configured = tau_name(args.params["apprentice"]["main_tau"])
    out.update(configured=configured, agrees=out["chosen"] == configured, split="synthbench (validation)",
               demos=int(args.params["apprentice"]["demos"]))
    log.info("tau chosen on validation by %s: %s (configured main_tau %s)", out["metric"], out["chosen"], configured)
    write_summary(out, args.out)
