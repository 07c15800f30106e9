"""The paper's tables and figures from the evaluation summaries: main comparison, demonstration-count ablation,
tau ablation with training-set sizes, speed; ablation curves with 95% intervals; demonstrations-vs-generations grids.

Inputs are the rows of results/eval/summary.parquet (one per bench, method, tau, demos; see `protocol.summarise`).
"""

from __future__ import annotations

import math
import re

import numpy as np

from suti.evaluation.methods import APPRENTICE_KINDS, CLUSTERS_ONLY, FROM_BASE
from suti.evaluation.paper_tables import HEADERS, cell, method_label
from suti.evaluation.protocol import METRICS
from suti.scoring.metrics import TAU_PATTERN


def _present(rows: list[dict]) -> list[str]:
    return [m for m in METRICS if any(not math.isnan(r[m]) for r in rows)]


def markdown_table(rows: list[dict], first: tuple[str, callable], extra: tuple = ()) -> str:
    """A table: `first` = (header, row -> label), then every metric present, then `extra` (header, row -> text)."""
    metrics = _present(rows)
    head = [first[0]] + [HEADERS[m] for m in metrics] + [h for h, _ in extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [first[1](r)] + [cell(r[m], r[f"{m}_low"], r[f"{m}_high"]) for m in metrics]
        lines.append("| " + " | ".join(cells + [f(r) for _, f in extra]) + " |")
    return "\n".join(lines)


ORDER = ("base", "experts", "suti", "dreamsuti", "oracle")  # the paper's table order


def compared(row: dict) -> bool:
    """Whether a summary row ran on the comparison's subjects (evaluation.synthbench.subjects), not on the
    demonstration ablation's wider set."""
    return not row.get("subset")


def main_comparison(summary: list[dict], bench: str, apprentices: tuple[str, ...], demos: int) -> list[dict]:
    """Base, DreamBooth experts, the main apprentices (`apprentices`: the main one, guidance distilled where it is,
    then the main tau's undistilled one) at the main demonstration count, Dream-SuTI and the oracle on one benchmark,
    in that order."""
    rows = [r for r in summary if r["bench"] == bench and compared(r) and (
        r["method"] not in APPRENTICE_KINDS or (r["tau"] in apprentices and r["demos"] == demos))]
    order = lambda r: (ORDER.index(r["method"]) if r["method"] in ORDER else len(ORDER),
                       apprentices.index(r["tau"]) if r["tau"] in apprentices else 0)
    return sorted(rows, key=order)


def demo_ablation(summary: list[dict], main: str) -> list[dict]:
    """The main apprentice (`main`, its name) on SynthBench at every demonstration count, by count: its runs on the
    demonstration ablation's own subjects where there are any (evaluation.synthbench.demo_subjects), else on the
    comparison's."""
    rows = [r for r in summary if r["bench"] == "synthbench" and r["method"] == "suti" and r["tau"] == main]
    wide = [r for r in rows if not compared(r)]
    return sorted(wide or rows, key=lambda r: r["demos"])


def tau_ablation(summary: list[dict], demos: int, filters: dict[str, dict]) -> list[dict]:
    """Every tau's apprentice on SynthBench at the main demonstration count, with what it was trained on (from
    `filters`, each tau's filter summary): the number of samples kept, and the probe's subject and prompt accuracy
    of those samples."""
    kept = lambda r: filters.get(r["tau"], {})
    rows = [dict(r, training_samples=kept(r).get("kept"), kept_subject_accuracy=kept(r).get(
                 "probe_subject_accuracy_kept"), kept_prompt_accuracy=kept(r).get("probe_prompt_accuracy_kept"))
            for r in summary
            if r["bench"] == "synthbench" and r["method"] == "suti" and r["demos"] == demos and compared(r)
            and re.fullmatch(TAU_PATTERN, r["tau"])]
    return sorted(rows, key=lambda r: -1.0 if r["tau"] == "none" else float(r["tau"]))


SOURCES = {CLUSTERS_ONLY: "clusters only", FROM_BASE: "experts only", "": "clusters, then experts"}


def source_ablation(summary: list[dict], main_tau: str, demos: int) -> list[dict]:
    """What the apprentice learns from (SynthBench, main demonstration count): the raw clusters alone, the experts'
    samples alone (from the base model), both (the main apprentice); each row labelled in `source`."""
    names = {CLUSTERS_ONLY: SOURCES[CLUSTERS_ONLY], main_tau + FROM_BASE: SOURCES[FROM_BASE], main_tau: SOURCES[""]}
    rows = [dict(r, source=names[r["tau"]]) for r in summary if r["bench"] == "synthbench" and compared(r)
            and r["method"] == "suti" and r["demos"] == demos and r["tau"] in names]
    return sorted(rows, key=lambda r: list(names.values()).index(r["source"])) if len(rows) > 1 else []


def speed_table(summary: list[dict]) -> list[dict]:
    """Seconds per subject (demonstrations to N images) per method and benchmark, and the ratio to the apprentice."""
    out = []
    for bench in sorted({r["bench"] for r in summary}):
        rows = [r for r in summary if r["bench"] == bench and r["method"] != "oracle"]
        suti = [r["seconds_per_subject"] for r in rows if r["method"] == "suti"]
        ref = min(suti) if suti else None
        for r in rows:
            ratio = r["seconds_per_subject"] / ref if ref else float("nan")
            per_subject = r["images"] / max(r["subjects"] * r.get("replicates", 1), 1)  # pooled replicates: one run's
            out.append({"bench": bench, "method": method_label(r), "seconds_per_subject": r["seconds_per_subject"],
                        "images_per_subject": per_subject, "ratio_to_suti": ratio})
    return out


PAPER = {"fidelity": "DINO 0.741 vs DreamBooth 0.696", "text": "CLIP-T 0.304 vs 0.306", "speed": "20x (aim 100x)"}


def targets(summary: list[dict], main: str, demos: int, bench: str = "synthbench") -> list[dict]:
    """The paper's targets for the main apprentice (`main`, its name) against the DreamBooth experts, measured on
    `bench`: fidelity (DINO where it was computed, else CLIP-I) and subject accuracy (SynthBench's probe) at least
    theirs, CLIP-T within 2% of theirs, fidelity rising with every added demonstration count with the fewest's and
    the most's 95% intervals apart, and at least 20x less time per subject. Each row: bench, target, paper,
    measured, met; a target whose methods were not evaluated has no row."""
    rows = [r for r in summary if r["bench"] == bench and compared(r)]
    suti = next((r for r in rows if r["method"] == "suti" and r["tau"] == main and r["demos"] == demos), None)
    experts = next((r for r in rows if r["method"] == "experts" and r["demos"] == demos), None)
    fid = "dino" if suti and not math.isnan(suti["dino"]) else "clip_i"
    out = []

    def add(target, paper, measured, met):
        out.append({"bench": bench, "target": target, "paper": paper, "measured": measured, "met": met})

    if suti and experts:
        a, b = suti[fid], experts[fid]
        add(f"{HEADERS[fid]}: SuTI >= DreamBooth", PAPER["fidelity"], f"{a:.3f} vs {b:.3f} ({a / b - 1:+.1%})", a >= b)
        a, b = suti["subject_accuracy"], experts["subject_accuracy"]
        if not (math.isnan(a) or math.isnan(b)):
            add("subject accuracy: SuTI >= DreamBooth", "(SynthBench's probe; no paper figure)",
                f"{a:.3f} vs {b:.3f} ({a - b:+.3f})", a >= b)
        a, b = suti["clip_t"], experts["clip_t"]
        add("CLIP-T: SuTI within 2% of DreamBooth", PAPER["text"], f"{a:.3f} vs {b:.3f} ({a / b - 1:+.1%})",
            a >= 0.98 * b)
        ratio = experts["seconds_per_subject"] / suti["seconds_per_subject"]
        add("time per subject: DreamBooth / SuTI >= 20", PAPER["speed"],
            f"{experts['seconds_per_subject']:.2f} s vs {suti['seconds_per_subject']:.2f} s ({ratio:.1f}x)",
            ratio >= 20)
    ablation = demo_ablation(summary, main)
    if len(ablation) >= 2:
        lo, hi = ablation[0], ablation[-1]
        rises = all(a[fid] < b[fid] for a, b in zip(ablation, ablation[1:]))
        apart = hi[f"{fid}_low"] > lo[f"{fid}_high"]
        add(f"{HEADERS[fid]} rises with demonstrations, {lo['demos']}- and {hi['demos']}-demo intervals apart",
            "rises (paper)", " -> ".join(f"{r[fid]:.3f}" for r in ablation) +
            f" ({lo['demos']} -> {hi['demos']} demos; [{lo[f'{fid}_low']:.3f}, {lo[f'{fid}_high']:.3f}] vs "
            f"[{hi[f'{fid}_low']:.3f}, {hi[f'{fid}_high']:.3f}]; {hi['subjects']} subjects)", rises and apart)
    return out


def plot_ablation(rows: list[dict], x_key: str, x_labels: list[str], title: str, path) -> None:
    """One panel per metric present: mean and 95% interval against `x_key`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = _present(rows) or ["clip_i"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 2.8), squeeze=False)
    xs = np.arange(len(rows))
    for ax, m in zip(axes[0], metrics):
        mean = np.array([r[m] for r in rows])
        err = np.array([[r[m] - r[f"{m}_low"] for r in rows], [r[f"{m}_high"] - r[m] for r in rows]])
        ax.errorbar(xs, mean, yerr=err, marker="o", capsize=3)
        ax.set_xticks(xs, x_labels)
        ax.set_xlabel(x_key)
        ax.set_title(HEADERS[m])
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
