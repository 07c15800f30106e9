"""Expert quality against SynthBench ground truth: do an expert's samples show *its* subject?

For each subject, the probe reads the identity attributes (class, colour, pattern) of
  - the expert's samples on identity-preserving prompts (recontextualisation, accessorisation), and
  - the base model's samples of the same prompts with the bare class noun, from the same seeds (paired).
An image's identity score is the probe's mean probability of the subject's true class, colour and pattern. An expert
"resembles its subject more" when its mean score beats the base's for that subject.
"""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa

from suti.data import tables
from suti.scoring.probe import (
    HEADS,
    make_probabilities,
    predict_batched,
    to_model_input,
)

IDENTITY = ("class", "colour", "pattern")


def subject_truth(clusters: pa.Table, corpus_paths) -> dict[str, dict[str, str]] | None:
    """{cluster id: {"class", "colour", "pattern"}} of each cluster's page subject (None without ground truth)."""
    gt = tables.read_table(corpus_paths, ["image_id", "page_id", "gt_subject_id", "gt_role", "gt_class", "gt_colour",
                                          "gt_pattern"]).to_pylist()
    if any(r["gt_subject_id"] is None for r in gt):
        return None
    page_subject = {r["page_id"]: r["gt_subject_id"] for r in gt if r["gt_role"] == "subject"}
    by_id = {r["image_id"]: r for r in gt}
    votes = collections.defaultdict(collections.Counter)
    for r in clusters.select(["cluster_id", "page_id", "image_id"]).to_pylist():
        g = by_id[r["image_id"]]
        if g["gt_subject_id"] == page_subject.get(r["page_id"]):
            votes[r["cluster_id"]][(g["gt_class"], g["gt_colour"], g["gt_pattern"])] += 1
    return {c: dict(zip(IDENTITY, v.most_common(1)[0][0])) for c, v in votes.items()}


def identity_scores(probe_graphdef, probe_params, images_u8: np.ndarray, truths: list[dict]) -> dict[str, np.ndarray]:
    """{"score": [N] mean true-value probability over IDENTITY, per attribute "<attr>_correct": [N] bool, and
    "all_correct": [N] bool, every IDENTITY attribute read right (the sample shows *this* subject)}."""
    probs = predict_batched(make_probabilities(probe_graphdef), probe_params, to_model_input(images_u8))
    out = {}
    per_attr = []
    for attr in IDENTITY:
        want = np.array([HEADS[attr].index(t[attr]) for t in truths])
        per_attr.append(probs[attr][np.arange(len(want)), want])
        out[f"{attr}_correct"] = probs[attr].argmax(-1) == want
    out["score"] = np.mean(per_attr, axis=0)
    out["all_correct"] = np.logical_and.reduce([out[f"{a}_correct"] for a in IDENTITY])
    return out


def compare(subjects: np.ndarray, expert: dict, base: dict) -> tuple[dict, list[dict]]:
    """(summary, one row per subject) of expert vs base identity scores of paired samples."""
    rows = []
    for s in sorted(set(subjects)):
        m = subjects == s
        rows.append({"subject": str(s), "samples": int(m.sum()), "expert_score": float(expert["score"][m].mean()),
                     "base_score": float(base["score"][m].mean())})
    better = [r["expert_score"] > r["base_score"] for r in rows]
    summary = {
        "subjects": len(rows),
        "fraction_expert_better": float(np.mean(better)) if rows else None,
        "expert_identity_score": float(expert["score"].mean()) if rows else None,
        "base_identity_score": float(base["score"].mean()) if rows else None,
        "expert_accuracy": {a: float(expert[f"{a}_correct"].mean()) for a in IDENTITY} if rows else {},
        "base_accuracy": {a: float(base[f"{a}_correct"].mean()) for a in IDENTITY} if rows else {},
        "expert_all_correct": float(expert["all_correct"].mean()) if rows else None,
        "base_all_correct": float(base["all_correct"].mean()) if rows else None,
    }
    return summary, rows
