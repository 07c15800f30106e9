"""`suti filter-samples`: the apprentice's training set at one ΔCLIP threshold tau (or "none": no filter)."""

from __future__ import annotations

import collections

import numpy as np

from suti import io
from suti.config import from_dict
from suti.data import tables
from suti.errors import SutiError
from suti.scoring.filtering import FilterConfig
from suti.scoring.metrics import keep_mask, parse_tau
from suti.stages.common import add_params_argument, log, write_summary

HELP = "keep the expert samples whose ΔCLIP >= tau and CLIP-I >= the floor"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--tau", required=True, help='threshold: a number, or "none" for no filter')
    p.add_argument("--samples", required=True, nargs="+", help="expert sample parquets")
    p.add_argument("--scores", required=True, nargs="+", help="their scores (suti score-samples)")
    p.add_argument("--out", required=True, help="output parquet: the kept samples with their scores")
    p.add_argument("--counts", required=True, help="output parquet: candidates and kept per subject and category")
    p.add_argument("--summary", required=True, help="output JSON")


def tracking_tags(args) -> dict:
    return {"tau": args.tau}


def kept_counts(tau: str, scores: list[dict], keep: np.ndarray) -> list[dict]:
    """One `tables.FILTER_COUNTS` row per (subject, category)."""
    candidates, kept = collections.Counter(), collections.Counter()
    for row, k in zip(scores, keep):
        key = (row["subject"], row["category"])
        candidates[key] += 1
        kept[key] += int(k)
    return [dict(tau=tau, subject=s, category=c, candidates=n, kept=kept[(s, c)])
            for (s, c), n in sorted(candidates.items())]


def ground_truth_check(scores: list[dict], keep: np.ndarray) -> dict:
    """SynthBench: the probe's mean subject and prompt accuracy of the kept samples beside all samples."""
    out = {}
    for name in ("probe_subject_accuracy", "probe_prompt_accuracy"):
        values = np.array([np.nan if r.get(name) is None else r[name] for r in scores], np.float64)
        if len(values) and not np.isnan(values).all():
            out[f"{name}_all"] = float(np.nanmean(values))
            out[f"{name}_kept"] = float(np.nanmean(values[keep])) if keep.any() else None
    return out


def run(args) -> None:
    cfg = from_dict(FilterConfig, args.params["filter"])
    try:
        tau = parse_tau(args.tau)
    except ValueError:
        raise SutiError(f"--tau: {args.tau!r} is neither a number nor 'none'") from None
    scores = tables.read_table(args.scores).to_pylist()
    score_of = {(r["subject"], r["prompt_id"], r["seed"]): r for r in scores}
    samples = tables.read_table(args.samples).to_pylist()
    missing = [s for s in samples if (s["subject"], s["prompt_id"], s["seed"]) not in score_of]
    if missing or len(samples) != len(scores):
        raise SutiError(f"filter_samples: {len(missing)} samples have no score and {len(scores)} scores for "
                        f"{len(samples)} samples; re-run score_samples")
    scores = [score_of[(s["subject"], s["prompt_id"], s["seed"])] for s in samples]
    delta = np.array([r["delta_clip"] for r in scores], np.float64)
    clip_i = np.array([r["clip_i"] for r in scores], np.float64)
    keep = keep_mask(delta, clip_i, tau, cfg.clip_i_floor)
    kept = [dict(s, delta_clip=r["delta_clip"], clip_i=r["clip_i"]) for s, r, k in zip(samples, scores, keep) if k]
    io.write_parquet(tables.from_rows(kept, tables.FILTERED_SAMPLES), args.out)
    counts = kept_counts(args.tau, scores, keep)
    io.write_parquet(tables.from_rows(counts, tables.FILTER_COUNTS), args.counts)
    by_category = collections.Counter()
    for row in counts:
        by_category[row["category"]] += row["kept"]
    summary = {"tau": args.tau, "clip_i_floor": cfg.clip_i_floor if tau is not None else None,
               "candidates": len(samples), "kept": int(keep.sum()),
               "kept_fraction": float(keep.mean()) if len(keep) else None,
               "subjects_with_samples": len({r["subject"] for r in kept}),
               "kept_by_category": dict(by_category), "scorer": scores[0]["scorer"] if scores else None,
               **ground_truth_check(scores, keep)}
    log.info("tau %s: kept %d of %d samples", args.tau, summary["kept"], len(samples))
    write_summary(summary, args.summary)
