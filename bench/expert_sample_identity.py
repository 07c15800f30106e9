"""How much of the subject's identity the imitation data carries: the identity judge's re-identification (top-1 among
the subject and its look-alikes, the evaluation's metric) of the experts' samples that each tau's filter kept, beside
the mined cluster images the experts were fine-tuned on (the identity an imitation could at best inherit).

The apprentice imitates these samples; if they re-identify their subject less often than the clusters do, imitation
teaches a weaker identity than the clusters phase, whatever the apprentice's capacity. Only the identity prompts
(recontextualization, accessorization) count for the samples, as in the evaluation; the cluster images all count.

It also splits the unfiltered samples by quartile of their CLIP-I (the pipeline's own fidelity score, which
`filter.clip_i_floor` thresholds): whether a filter of the pipeline's own could keep the samples that show *this*
subject.

Run: `python bench/expert_sample_identity.py [--run .] [--overlays my.yaml]` on a finished run (its
results/filter/*/samples.parquet, mining and corpus); prints one row per source and writes
bench/out/expert_sample_identity.json. Judge: pretrained/judge (scoring only; the pipeline never trains on it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from suti import io
from suti.config import default_config
from suti.data.training_set import subject_images
from suti.data.images import decode_image
from suti.evaluation.identity import identity_scores, references_for
from suti.evaluation.protocol import bootstrap_ci


def summary(scores: dict[str, np.ndarray], rows: list[dict]) -> dict:
    """Identity accuracy and ID similarity (`identity_scores` of the rows' images): mean and 95% subject-bootstrap
    interval."""
    subjects = np.array([r["subject"] for r in rows])
    out = {"images": len(rows), "subjects": len(set(subjects))}
    for metric, values in scores.items():
        mean, low, high = bootstrap_ci(values, subjects, 2000, 0)
        out[metric] = {"mean": mean, "low": low, "high": high}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=Path("."), help="the finished run's folder (holding results/)")
    p.add_argument("--overlays", nargs="*", default=[], help="the run's config overlays, relative to --run")
    p.add_argument("--judge", default="pretrained/judge")
    p.add_argument("--per-subject", type=int, default=8, help="cluster images per subject scored")
    p.add_argument("--out", default="bench/out/expert_sample_identity.json")
    args = p.parse_args()
    params = default_config(args.run, tuple(args.run / path for path in args.overlays))
    res = args.run / "results"
    corpus = sorted(str(p) for p in (res / "corpus").glob("shard-*.parquet"))
    filters = {p.parent.name: p for p in sorted((res / "filter").glob("*/samples.parquet"))}
    samples = {tau: pq.read_table(path).to_pylist() for tau, path in filters.items()}
    subjects = sorted({r["subject"] for rows in samples.values() for r in rows})
    references, judge, judge_id = references_for(params, args.judge, res / "mining/clusters.parquet", corpus,
                                                 subjects)
    if judge is None:
        raise SystemExit(f"no identity judge: {judge_id}")
    print(f"judge {judge_id}; {len(subjects)} subjects with kept samples in {res}")
    out = {"run": str(res), "judge": judge_id, "sources": {}}

    clusters = subject_images(res / "mining/clusters.parquet", subjects)
    rows, images = [], []
    for subject, imgs in clusters.items():
        for img in imgs[:args.per_subject]:
            rows.append({"subject": subject, "category": "recontextualization"})
            images.append(img)
    out["sources"]["clusters"] = summary(identity_scores(judge, np.stack(images), rows, references), rows)
    judged = {}
    for tau, kept in samples.items():
        judged[tau] = identity_scores(judge, np.stack([decode_image(r["image"]) for r in kept]), kept, references)
        out["sources"][f"kept at tau {tau}"] = summary(judged[tau], kept)
    # A filter of the pipeline's own that could keep *this* subject: the samples' CLIP-I (the scoring CLIP's image
    # similarity to the subject's cluster, which filter.clip_i_floor thresholds), by quartile of the unfiltered set.
    if "none" in samples:
        rows = samples["none"]
        clip_i = np.array([r["clip_i"] for r in rows])
        edges = np.quantile(clip_i, [0, 0.25, 0.5, 0.75, 1.0])
        for q in range(4):
            mask = (clip_i >= edges[q]) & (clip_i <= edges[q + 1])
            out["sources"][f"CLIP-I {edges[q]:.2f}-{edges[q + 1]:.2f}"] = summary(
                {k: v[mask] for k, v in judged["none"].items()}, [r for r, m in zip(rows, mask) if m])

    print(f"{'source':24s} {'images':>7s} {'subjects':>8s} {'identity':>8s} {'95%':>16s} {'ID sim':>7s}")
    for name, s in out["sources"].items():
        acc, sim = s["identity_accuracy"], s["id_similarity"]
        print(f"{name:24s} {s['images']:7d} {s['subjects']:8d} {acc['mean']:8.3f} "
              f"[{acc['low']:.3f}, {acc['high']:.3f}] {sim['mean']:7.3f}")
    io.write_json(out, args.out)


if __name__ == "__main__":
    main()
