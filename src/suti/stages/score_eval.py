"""`suti score-eval`: the evaluation protocol's per-image metrics for one method's generations."""

from __future__ import annotations

import collections

import numpy as np
import pyarrow.parquet as pq

from suti import io
from suti.config import from_dict
from suti.data import tables
from suti.data.images import decode_image
from suti.data.training_set import decode_by
from suti.evaluation import copying, identity, protocol, test_split
from suti.evaluation.generators import cluster_demonstrations
from suti.evaluation.expert_quality import subject_truth
from suti.evaluation.protocol import load_probe_reader
from suti.evaluation.eval_clip import load_eval_clip
from suti.scoring.clip import ClipSpec
from suti.scoring.dino import DinoSpec, load_dino
from suti.stages.common import add_params_argument, log, write_summary

HELP = "score a method's evaluation images: DINO, CLIP-I, CLIP-T (+ SynthBench identity and probe accuracies)"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--generations", required=True, help="a method's generations (suti generate-eval)")
    p.add_argument("--clusters", help="mined clusters (SynthBench: the subjects' real images)")
    p.add_argument("--corpus", nargs="+", help="corpus shards (SynthBench ground truth for the probe)")
    p.add_argument("--probe", help="exported SynthBench probe")
    p.add_argument("--dreambench-images", help="indexed DreamBench photos (DreamBench: the subjects' real images)")
    p.add_argument("--eval-clip", help="released evaluation CLIP (pretrained/eval_clip, when scoring.eval_clip.model is "
                                       "empty): CLIP-I and CLIP-T")
    p.add_argument("--judge", help="released identity judge (pretrained/judge): SynthBench identity metrics")
    p.add_argument("--out", required=True, help="output parquet: one row per image with every metric")
    p.add_argument("--summary", required=True, help="output JSON: means with 95%% intervals")


def tracking_tags(args) -> dict:
    first = pq.read_table(args.generations, columns=["bench", "method", "tau", "demos"]).slice(0, 1).to_pylist()
    return {k: str(v) for k, v in first[0].items()} if first else {}


def held_back(rows: list[dict], key: str, skip: int, subjects: set[str]) -> dict[str, np.ndarray]:
    """{subject: its images after the first `skip` by image id}: the images no method was given as demonstrations
    (every method gets a subject's first K <= skip images, `generators.*_demonstrations`)."""
    ordered = sorted((r for r in rows if r[key] in subjects), key=lambda r: r["image_id"])
    kept, seen = [], collections.Counter()
    for r in ordered:
        seen[r[key]] += 1
        if seen[r[key]] > skip:
            kept.append(r)
    return decode_by(kept, key, subjects)


def references(args, bench: str, subjects: set[str], fresh: dict | None) -> dict[str, np.ndarray]:
    """The images fidelity (CLIP-I, DINO) is measured against, never the demonstrations: on SynthBench with ground
    truth, fresh renders of each subject (`fresh`); else the subject's mined images or photos after those any method
    was given (SynthBench: apprentice.max_demos, DreamBench: apprentice.demos, its only count)."""
    shown = args.params.get("demonstrations", {})
    if fresh is not None:
        return {s: ref.images for s, ref in fresh.items()}
    if bench == "synthbench":
        rows = tables.read_table([args.clusters], ["cluster_id", "image_id", "image"]).to_pylist()
        return held_back(rows, "cluster_id", int(shown.get("max_demos", 5)), subjects)
    rows = tables.read_table([args.dreambench_images], ["subject", "image_id", "image"]).to_pylist()
    return held_back(rows, "subject", int(shown.get("demos", 3)), subjects)


def fresh_references(args, rows: list[dict]):
    """(SubjectReferences per SynthBench subject or None without ground truth, judge or None, judge id)."""
    names = sorted({r["subject"] for r in rows})
    if rows and rows[0]["bench"] == test_split.BENCH:
        subjects = test_split.TestSplit.of(args.params).subjects
        return identity.references_of(args.params, args.judge, {n: subjects[n] for n in names})
    return identity.references_for(args.params, args.judge, args.clusters, args.corpus, names)


def copy_scores(args, rows: list[dict], images: np.ndarray, probe, judge, fresh) -> dict[str, np.ndarray]:
    """copy_rate (by the probe) and demo_similarity_gap (by the judge) against each image's demonstrations: the
    first K mined images of its subject, K its method's count (the main count for methods given none)."""
    k = int(rows[0]["demos"]) or int(args.params.get("demonstrations", {}).get("demos", 3))
    if rows[0]["bench"] == test_split.BENCH:
        shown = test_split.TestSplit.of(args.params).demonstrations(k)
    else:
        shown = cluster_demonstrations(pq.read_table(args.clusters), {r["subject"] for r in rows}, k)
    out = {}
    if probe is not None:
        out["copy_rate"] = copying.copy_rate(probe, images, rows, shown)
    if judge is not None:
        out["demo_similarity_gap"] = copying.demo_similarity_gap(judge, images, rows, shown, fresh)
    return out


def dreambench_leave_one_out(rows: list[dict], skip: int) -> list[dict]:
    """The real-photo rows' `reference` index shifted into the held-back photos (-1: a photo not among them)."""
    return [dict(r, reference=r["reference"] - skip if r.get("reference", -1) >= skip else -1) for r in rows]


def probe_and_truths(args, bench: str, min_accuracy: float):
    """(ProbeReader, truths, probe id) for SynthBench, or Nones with the reason where not available."""
    if bench == test_split.BENCH and args.probe:
        reader = load_probe_reader(args.probe, min_accuracy)
        return reader, test_split.TestSplit.of(args.params).truths(), reader.id
    if not (args.probe and args.clusters and args.corpus):
        return None, None, "missing: no probe given (--probe, --clusters, --corpus)"
    reader = load_probe_reader(args.probe, min_accuracy)
    truths = subject_truth(pq.read_table(args.clusters), args.corpus)
    return reader, truths, reader.id if truths else "missing: corpus has no ground truth"


def run(args) -> None:
    scoring = args.params["scoring"]
    rows = tables.read_table([args.generations]).to_pylist()
    bench = rows[0]["bench"] if rows else "synthbench"
    clip, clip_id = load_eval_clip(from_dict(ClipSpec, scoring["eval_clip"]), args.eval_clip,
                                   int(args.params["world"]["resolution"]))
    dino = load_dino(from_dict(DinoSpec, scoring["dino"]))
    dino_id = dino.id if hasattr(dino, "embed_images") else f"missing: {dino.reason}"
    fresh, judge, judge_id = None, None, "missing: no ground truth on DreamBench"
    if bench in ("synthbench", test_split.BENCH):
        probe, truths, probe_id = probe_and_truths(args, bench, float(scoring["probe_min_accuracy"]))
        fresh, judge, judge_id = fresh_references(args, rows)
    else:
        probe, truths, probe_id = None, None, "missing: no ground truth on DreamBench"
        rows = dreambench_leave_one_out(rows, int(args.params.get("demonstrations", {}).get("demos", 3)))
    images = np.stack([decode_image(r["image"]) for r in rows]) if rows else np.zeros((0, 8, 8, 3), np.uint8)
    refs = references(args, bench, {r["subject"] for r in rows}, fresh)
    scores = protocol.score_images(rows, images, refs, clip, dino, probe, truths) if rows else {}
    features = truth = None  # the judge's features of each image and of a ground-truth render of its prompt
    if rows and judge is not None:
        features = judge.embed_images(images)
        truth = judge.embed_images(identity.truth_renders(rows, fresh, int(args.params["world"]["resolution"])))
        scores.update(identity.identity_scores(judge, images, rows, fresh, features))
    if rows and (bench == test_split.BENCH or (bench == "synthbench" and args.clusters)):
        scores.update(copy_scores(args, rows, images, probe, judge, fresh))
    out = []
    for n, row in enumerate(rows):
        values = {m: (None if m not in scores or np.isnan(scores[m][n]) else float(scores[m][n]))
                  for m in protocol.METRICS}
        out.append(dict({k: v for k, v in row.items() if k != "image"}, **values, clip_scorer=clip_id,
                        dino_scorer=dino_id, probe_scorer=probe_id, judge_scorer=judge_id,
                        judge_features=None if features is None else features[n].tolist(),
                        truth_features=None if truth is None else truth[n].tolist()))
    io.write_parquet(tables.from_rows(out, tables.EVAL_SCORES), args.out)
    summary = protocol.summarise(out, n_boot=int(args.params["evaluation"]["bootstrap"]),
                                 seed=int(args.params["seed"]))
    log.info("%s", summary)
    flat = {k: v for k, v in (summary[0] if summary else {}).items() if not isinstance(v, str) or k in
            ("bench", "method")}
    write_summary(dict(flat, dino_scorer=dino_id, clip_scorer=clip_id, probe_scorer=probe_id, judge_scorer=judge_id),
                  args.summary)
