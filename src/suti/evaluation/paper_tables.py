"""Paper-style tables from the protocol's summaries: means with 95% intervals, as markdown and CSV."""

from __future__ import annotations

import csv
import io
import math

from suti.evaluation.methods import apprentice_label
from suti.evaluation.protocol import METRICS  # and the set metric judge_frechet

HEADERS = {"identity_accuracy": "Identity acc.", "id_similarity": "ID sim.", "dino": "DINO", "clip_i": "CLIP-I",
           "clip_t": "CLIP-T", "subject_accuracy": "Subject acc.", "pattern_accuracy": "Pattern acc.",
           "prompt_accuracy": "Prompt acc.", "copy_rate": "Copy rate", "demo_similarity_gap": "Demo sim. gap",
           "judge_frechet": "FD (judge)"}


def cell(mean: float, low: float, high: float) -> str:
    """"0.741 [0.720, 0.760]", or "n/a" for a missing value."""
    if mean is None or math.isnan(mean):
        return "n/a"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def method_label(row: dict) -> str:
    label = row["method"]
    if row.get("tau"):
        label += f" ({apprentice_label(row['tau'])})"
    if row.get("demos"):
        label += f", {row['demos']} demos"
    if row.get("subset"):  # the demonstration ablation's wider set of held-out subjects
        label += ", demo-ablation subjects"
    return label


def markdown(summary: list[dict], bench: str) -> str:
    """One benchmark's comparison table; a footnote names the scorers."""
    rows = [r for r in summary if r["bench"] == bench]
    if not rows:
        return ""
    metrics = [m for m in (*METRICS, "judge_frechet") if any(not math.isnan(r.get(m, math.nan)) for r in rows)]
    head = ["Method"] + [HEADERS[m] for m in metrics] + ["Subjects", "Images", "s / subject"]
    lines = [f"### {bench}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [method_label(r)] + [cell(r[m], r[f"{m}_low"], r[f"{m}_high"]) for m in metrics]
        cells += [str(r["subjects"]), str(r["images"]), f"{r['seconds_per_subject']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    scorers = sorted({(r["clip_scorer"], r["dino_scorer"], r["probe_scorer"], r.get("judge_scorer") or "missing")
                      for r in rows})
    lines += ["", replicates_note(rows) + " Scorers: " + "; ".join(
        f"CLIP {c}, DINO {d}, probe {p}, identity judge {j}" for c, d, p, j in scorers), ""]
    return "\n".join(lines)


def replicates_note(rows: list[dict]) -> str:
    """How many training replicates (config `replicates`) the trained methods' figures pool, and what the intervals
    span: one replicate says so, since its intervals leave out the training's own variation."""
    n = max((r.get("replicates") or 1 for r in rows), default=1)
    if n == 1:
        return ("Means over subjects with 95% bootstrap intervals over subjects, from one training replicate (one "
                "seed of expert and apprentice training; config `replicates` adds more).")
    return (f"Means over subjects with 95% bootstrap intervals over subjects and {n} training replicates (seeds of "
            "expert and apprentice training; base and oracle train nothing and run once).")


def to_csv(summary: list[dict]) -> str:
    buffer = io.StringIO()
    if summary:
        writer = csv.DictWriter(buffer, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)
    return buffer.getvalue()
