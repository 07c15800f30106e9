"""`suti score-samples`: ΔCLIP and CLIP-I of every expert sample of a shard (SuTI's filter scores)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from suti import io
from suti.config import from_dict
from suti.data import tables
from suti.data.images import decode_image
from suti.data.training_set import subject_images
from suti.evaluation.expert_quality import subject_truth
from suti.evaluation.protocol import load_probe_reader, probe_accuracies
from suti.scoring import metrics
from suti.scoring.clip import ClipSpec, load_clip
from suti.stages.common import add_params_argument, log, write_summary
from suti.world import prompts

HELP = "score expert samples: CLIP-T, ΔCLIP against the subject's own images, CLIP-I"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--samples", required=True, help="a shard's expert samples (suti sample-experts)")
    p.add_argument("--clusters", required=True, help="mined clusters parquet (the subjects' own images)")
    p.add_argument("--scorer", default=None, help="trained small CLIP folder (when scoring.clip.model is empty)")
    p.add_argument("--probe", help="SynthBench probe: also read each sample's ground-truth accuracies")
    p.add_argument("--corpus", nargs="+", help="corpus shards (ground truth, with --probe)")
    p.add_argument("--out", required=True, help="output parquet of scores, one row per sample")
    p.add_argument("--summary", required=True, help="output JSON")


def score_rows(rows: list[dict], references: dict[str, np.ndarray], scorer) -> list[dict]:
    """One `tables.SAMPLE_SCORES` row per sample row (needs subject, prompt_id, class_noun, image)."""
    by_id = {p.prompt_id: p for p in prompts.PROMPTS}
    class_prompts = [by_id[r["prompt_id"]].format(r["class_noun"]) for r in rows]
    distinct = sorted(set(class_prompts))
    text_of = dict(zip(distinct, scorer.embed_texts(distinct)))
    texts = np.stack([text_of[p] for p in class_prompts])
    images = scorer.embed_images(np.stack([decode_image(r["image"]) for r in rows]))
    clip_t = metrics.clip_t(images, texts)
    delta, reference, clip_i = np.zeros(len(rows)), np.zeros(len(rows)), np.zeros(len(rows))
    subjects = np.array([r["subject"] for r in rows])
    for subject, own in references.items():
        m = subjects == subject
        own_emb = scorer.embed_images(own)
        delta[m], reference[m] = metrics.delta_clip(clip_t[m], own_emb, texts[m])
        clip_i[m] = metrics.mean_similarity(images[m], own_emb)
    return [dict(subject=r["subject"], expert_id=r["expert_id"], prompt_id=r["prompt_id"], category=r["category"],
                 class_prompt=p, seed=r["seed"], clip_t=float(t), clip_t_real=float(ref), delta_clip=float(d),
                 clip_i=float(i), scorer=scorer.id)
            for r, p, t, ref, d, i in zip(rows, class_prompts, clip_t, reference, delta, clip_i)]


def add_probe_accuracies(scored: list[dict], rows: list[dict], args) -> None:
    """SynthBench only: the probe's subject and prompt accuracy of each sample, so that the filter's effect on the
    training set can be checked against ground truth (never used to filter)."""
    truths = subject_truth(pq.read_table(args.clusters), args.corpus)
    if truths is None or not rows:
        return
    reader = load_probe_reader(args.probe, float(args.params["scoring"]["probe_min_accuracy"]))
    images = np.stack([decode_image(r["image"]) for r in rows])
    read = probe_accuracies(reader, images, rows, truths)
    for row, s, p in zip(scored, read["subject_accuracy"], read["prompt_accuracy"]):
        row.update(probe_subject_accuracy=None if np.isnan(s) else float(s),
                   probe_prompt_accuracy=None if np.isnan(p) else float(p))


def run(args) -> None:
    spec = from_dict(ClipSpec, args.params["scoring"]["clip"])
    rows = tables.read_table([args.samples]).to_pylist()
    scorer = load_clip(spec, args.scorer)
    scored = score_rows(rows, subject_images(args.clusters, {r["subject"] for r in rows}), scorer) if rows else []
    if args.probe and args.corpus:
        add_probe_accuracies(scored, rows, args)
    io.write_parquet(tables.from_rows(scored, tables.SAMPLE_SCORES), args.out)
    table = pa.Table.from_pylist(scored) if scored else None
    summary = {"samples": len(scored), "scorer": scorer.id}
    if table is not None:
        for col in ("clip_t", "clip_t_real", "delta_clip", "clip_i"):
            summary[f"mean_{col}"] = float(np.mean(table[col].to_numpy()))
        summary["fraction_delta_positive"] = float(np.mean(table["delta_clip"].to_numpy() > 0))
    log.info("scored %d samples with %s", len(scored), scorer.id)
    write_summary(summary, args.summary)
