"""`suti eval-experts`: do the experts' samples show their own subjects more than the base model's class samples?"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from suti import io
from suti.config import from_dict
from suti.data import tables
from suti.data.images import decode_image, grid, save_png
from suti.evaluation import expert_quality as eq
from suti.experts.config import ExpertsSection
from suti.models.pipeline import TextToImagePipeline
from suti.scoring.probe import load_probe
from suti.stages.common import add_params_argument, log, write_summary
from suti.world import prompts

HELP = "measure expert subject fidelity against the base model by SynthBench ground truth"
TARGET_BETTER = 0.9        # the fraction of subjects whose expert should beat the base
TARGET_ALL_CORRECT = 0.6   # the fraction of expert samples whose class, colour and pattern the probe reads right


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--samples", required=True, nargs="+", help="expert sample parquets (suti sample-experts)")
    p.add_argument("--base", required=True, help="exported base model directory")
    p.add_argument("--probe", required=True, help="exported probe directory")
    p.add_argument("--clusters", required=True, help="mined clusters parquet")
    p.add_argument("--corpus", required=True, nargs="+", help="corpus shards (for ground truth)")
    p.add_argument("--summary", required=True, help="output JSON")
    p.add_argument("--table", required=True, help="output parquet, one row per subject")
    p.add_argument("--grid", required=True, help="output PNG: per subject, expert samples then base samples")


def run(args) -> None:
    cfg = from_dict(ExpertsSection, args.params["experts"])
    truth = eq.subject_truth(pq.read_table(args.clusters), args.corpus)
    rows = [r for r in tables.read_table(args.samples).to_pylist() if r["category"] != prompts.PROPERTY]
    if truth is None or not rows:
        reason = "corpus has no ground truth" if truth is None else "no identity-preserving expert samples"
        write_summary({"subjects": 0, "fraction_expert_better": None, "reason": reason}, args.summary)
        io.write_parquet(pa.table({"subject": pa.array([], pa.string())}), args.table)
        save_png(np.zeros((8, 8, 3), np.uint8), args.grid)
        return
    by_id = {p.prompt_id: p for p in prompts.PROMPTS}
    expert_images = np.stack([decode_image(r["image"]) for r in rows])
    # the same prompts with the bare class noun, from the same seeds: a paired comparison
    base_prompts = [by_id[r["prompt_id"]].format(r["class_noun"]) for r in rows]
    pipe = TextToImagePipeline.load(args.base)
    base_images = pipe.sample_seeds(base_prompts, np.array([r["seed"] for r in rows]), cfg.sample.sampling,
                                    cfg.sample.batch_size)
    graphdef, params, meta = load_probe(args.probe)
    truths = [truth[r["subject"]] for r in rows]
    expert = eq.identity_scores(graphdef, params, expert_images, truths)
    base = eq.identity_scores(graphdef, params, base_images, truths)
    subjects = np.array([r["subject"] for r in rows])
    summary, per_subject = eq.compare(subjects, expert, base)
    met = (summary["fraction_expert_better"] >= TARGET_BETTER
           and summary["expert_all_correct"] >= TARGET_ALL_CORRECT)
    summary.update(target_fraction=TARGET_BETTER, target_all_correct=TARGET_ALL_CORRECT, target_met=met,
                   scorer="suti-probe-cnn", probe_accuracy_clean_renders=meta["accuracy"],
                   attributes=list(eq.IDENTITY), samples=len(rows))
    log.info("expert quality: %s", summary)
    io.write_parquet(pa.Table.from_pylist(per_subject), args.table)
    save_png(comparison_grid(subjects, expert_images, base_images), args.grid)
    write_summary(summary, args.summary, figures=(args.grid, args.table))


def comparison_grid(subjects: np.ndarray, expert: np.ndarray, base: np.ndarray, n_subjects=8, n=4) -> np.ndarray:
    """Rows of subjects: n expert samples, then the n paired base samples."""
    tiles = []
    for s in sorted(set(subjects))[:n_subjects]:
        idx = np.flatnonzero(subjects == s)[:n]
        pad = [np.zeros_like(expert[0])] * (n - len(idx))
        tiles += list(expert[idx]) + pad + list(base[idx]) + pad
    return grid(tiles, cols=2 * n, scale=2)
