"""Paired comparisons: every method renders the same subjects, prompts and seeds, so two methods are compared by the
per-subject differences of their images, with a paired bootstrap over subjects and training replicates.

A comparison is (A, B): A's runs minus B's on the images both scored (matched on subject, replicate, prompt and
seed). Per subject and replicate, the mean of A's and of B's matched images; each bootstrap draw resamples subjects
and replicates (as `protocol.bootstrap_ci`) and takes the difference of the means, their ratio less one, and for
time the ratio B / A. A method that runs once (base, oracle) is paired with every replicate of the other.

Which comparisons the report draws (`comparisons`): each method of the main comparison against DreamBooth (the
targets), each demonstration count against the fewest, each tau against the main tau, each training source against
the main apprentice's, the distilled apprentice against the undistilled one.
"""

from __future__ import annotations

import collections
import re

import numpy as np
import pyarrow as pa

from suti.evaluation.methods import CLUSTERS_ONLY, DISTILLED, FROM_BASE, main_apprentice
from suti.evaluation.paper_tables import method_label
from suti.evaluation.protocol import METRICS
from suti.scoring.metrics import TAU_PATTERN, tau_name

SECONDS = "seconds"                     # time per subject, compared as a ratio (B / A)
COMPARED = METRICS + (SECONDS,)
RUN_KEY = ("bench", "method", "tau", "demos", "subset")
FIGURES = ("a_mean", "b_mean", "diff", "diff_low", "diff_high", "rel", "rel_low", "rel_high", "ratio", "ratio_low",
           "ratio_high")
SCHEMA = pa.schema([("bench", pa.string()), ("comparison", pa.string()), ("a", pa.string()), ("b", pa.string()),
                    ("a_run", pa.string()), ("b_run", pa.string()), ("metric", pa.string()), ("subjects", pa.int32()),
                    ("replicates", pa.int32())] + [(k, pa.float64()) for k in FIGURES])


def run_key(row: dict) -> tuple:
    return tuple(row.get(k) or ("" if k != "demos" else 0) for k in RUN_KEY)


def _cells(rows: list[dict], metric: str) -> dict[tuple, dict[tuple, float]]:
    """{(subject, replicate): {(prompt_id, seed): value}}, missing values left out."""
    out = collections.defaultdict(dict)
    for r in rows:
        value = r.get(metric)
        if value is not None and value == value:
            out[(r["subject"], r.get("replicate") or 0)][(r["prompt_id"], r["seed"])] = float(value)
    return out


def paired_difference(a_rows: list[dict], b_rows: list[dict], metric: str, n_boot: int, seed: int) -> dict | None:
    """{subjects, replicates, a_mean, b_mean, diff, diff_low, diff_high, rel, rel_low, rel_high, ratio, ratio_low,
    ratio_high}
    of A minus B on `metric` (95% paired bootstrap), or None where no image of both was scored."""
    a, b = _cells(a_rows, metric), _cells(b_rows, metric)
    reps_a, reps_b = {r for _, r in a}, {r for _, r in b}
    once_b = reps_b == {0} and len(reps_a) > 1   # B ran once (base, oracle): paired with each replicate of A
    once_a = reps_a == {0} and len(reps_b) > 1
    subjects = sorted({s for s, _ in a} & {s for s, _ in b})
    reps = sorted(reps_b if once_a else reps_a)
    A = np.full((len(subjects), len(reps)), np.nan)                                       # [subjects, replicates]
    B = np.full_like(A, np.nan)
    for i, s in enumerate(subjects):
        for j, r in enumerate(reps):
            ca, cb = a.get((s, 0 if once_a else r), {}), b.get((s, 0 if once_b else r), {})
            shared = sorted(set(ca) & set(cb))
            if shared:
                A[i, j] = np.mean([ca[k] for k in shared])
                B[i, j] = np.mean([cb[k] for k in shared])
    keep = ~np.isnan(A).all(axis=1)
    A, B = A[keep], B[keep]
    if not len(A):
        return None
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(A), size=(n_boot, len(A)))
    runs = rng.integers(0, len(reps), size=(n_boot, len(reps)))
    mean_a = np.nanmean(np.nanmean(A[drawn[:, :, None], runs[:, None, :]], axis=2), axis=1)   # [n_boot]
    mean_b = np.nanmean(np.nanmean(B[drawn[:, :, None], runs[:, None, :]], axis=2), axis=1)
    pa, pb = np.nanmean(np.nanmean(A, 1)), np.nanmean(np.nanmean(B, 1))
    ci = lambda x: (float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5)))  # noqa: E731
    with np.errstate(divide="ignore", invalid="ignore"):
        out = dict(subjects=int(len(A)), replicates=len(reps), a_mean=float(pa), b_mean=float(pb), diff=float(pa - pb),
                   rel=float(pa / pb - 1), ratio=float(pb / pa))
        out["diff_low"], out["diff_high"] = ci(mean_a - mean_b)
        out["rel_low"], out["rel_high"] = ci(mean_a / mean_b - 1)
        out["ratio_low"], out["ratio_high"] = ci(mean_b / mean_a)
    return out


def comparisons(runs: list[tuple], apprentice: dict) -> list[tuple[str, tuple, tuple]]:
    """(kind, A's run key, B's run key) for every comparison the report draws among `runs` (run keys present)."""
    present = set(runs)
    main, main_tau, k = main_apprentice(apprentice), tau_name(apprentice["main_tau"]), int(apprentice["demos"])
    out = []
    for bench in sorted({r[0] for r in present}):
        experts = (bench, "experts", "", k, "")
        for run in sorted(present):
            if run[0] == bench and run[4] == "" and run != experts and (run[1] in ("base", "oracle", "dreamsuti") or (
                    run[1] == "suti" and run[3] == k)):
                out.append(("against DreamBooth", run, experts))
        for subset in ("wide", ""):
            counts = sorted(r for r in present if r[0] == bench and r[1] == "suti" and r[2] == main and r[4] == subset)
            if len(counts) > 1:
                out += [("demonstrations", r, counts[0]) for r in counts[1:]]
                break
        at_k = lambda tau: (bench, "suti", tau, k, "")  # noqa: E731
        taus = [r for r in present if r[:2] == (bench, "suti") and r[3] == k and r[4] == ""
                and re.fullmatch(TAU_PATTERN, r[2]) and r[2] != main_tau]
        out += [("tau", r, at_k(main_tau)) for r in sorted(taus)]
        out += [("source", at_k(t), at_k(main_tau)) for t in (CLUSTERS_ONLY, main_tau + FROM_BASE)]
        out.append(("distillation", at_k(main_tau + DISTILLED), at_k(main_tau)))
    return [(kind, a, b) for kind, a, b in out if a in present and b in present]


def paired_table(rows: list[dict], apprentice: dict, n_boot: int, seed: int) -> list[dict]:
    """One row per (comparison, metric) with both methods' labels and the paired figures."""
    by_run = collections.defaultdict(list)
    for r in rows:
        by_run[run_key(r)].append(dict(r, seconds=r.get("seconds")))
    out = []
    for kind, a, b in comparisons(list(by_run), apprentice):
        for metric in COMPARED:
            figures = paired_difference(by_run[a], by_run[b], metric, n_boot, seed)
            if figures is not None:
                out.append(dict(bench=a[0], comparison=kind, a=method_label(dict(zip(RUN_KEY, a))),
                                b=method_label(dict(zip(RUN_KEY, b))), a_run="/".join(map(str, a)),
                                b_run="/".join(map(str, b)), metric=metric, **figures))
    return out
