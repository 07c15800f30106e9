"""`suti sample-experts`: each expert of a shard renders its subject on SynthBench prompt templates."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from suti import io, streams
from suti.config import from_dict
from suti.data import tables
from suti.data.images import encode_png, grid, save_png
from suti.experts.config import ExpertsSection
from suti.experts.store import ExpertShard, image_seed
from suti.models.pipeline import TextToImagePipeline
from suti.stages.common import add_params_argument, log, write_summary
from suti.world import prompts

HELP = "sample every expert of a shard on the prompt templates"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--base", required=True, help="exported base model directory")
    p.add_argument("--experts", required=True, help="a shard's experts directory (suti train-experts)")
    p.add_argument("--out", required=True, help="output parquet of samples")
    p.add_argument("--grid", required=True, help="output PNG: one row per expert")
    p.add_argument("--summary", required=True, help="output JSON summary")


def choose_templates(subject_seed: int, per_category: int | None) -> list[prompts.PromptTemplate]:
    """`per_category` templates of each category, drawn per subject (all of them when None)."""
    return prompts.choose_templates([subject_seed, streams.EXPERT_TEMPLATES], per_category)


def sample_plan(shard: ExpertShard, shard_name: str, cfg: ExpertsSection, seed: int) -> list[dict]:
    """One row per image to draw (without the image)."""
    rows = []
    for k, subject in enumerate(shard.subjects):
        for template in choose_templates(subject["seed"], cfg.sample.prompts_per_category):
            for i in range(cfg.sample.samples_per_prompt):
                rows.append({"subject": subject["subject"], "expert_id": f"{shard_name}/{k}", "expert": k,
                             "class_noun": subject["class_noun"], "prompt_id": template.prompt_id,
                             "category": template.category,
                             "prompt": template.format(subject["class_noun"], subject["identifier"]),
                             "seed": image_seed(seed, subject["subject"], template.prompt_id, i)})
    return rows


def run(args) -> None:
    seed = int(args.params["seed"])
    cfg = from_dict(ExpertsSection, args.params["experts"])
    shard = ExpertShard.load(args.experts, TextToImagePipeline.load(args.base))
    plan = sample_plan(shard, f"{shard.index:04d}", cfg, seed)
    start = time.perf_counter()
    images = np.zeros((0, 1, 1, 3), np.uint8)
    if plan:
        images = shard.sample(np.array([r["expert"] for r in plan]), [r["prompt"] for r in plan],
                              np.array([r["seed"] for r in plan]), cfg.sample.sampling, cfg.sample.batch_size)
    seconds = time.perf_counter() - start
    rows = [{**{k: v for k, v in r.items() if k != "expert"}, "image": encode_png(im)} for r, im in zip(plan, images)]
    io.write_parquet(tables.from_rows(rows, tables.EXPERT_SAMPLES), args.out)
    per_expert = len(plan) // max(len(shard), 1)
    save_png(grid(list(images), cols=max(per_expert, 1), scale=2) if plan else np.zeros((8, 8, 3), np.uint8),
             args.grid)
    log.info("%d samples from %d experts in %.1f s", len(rows), len(shard), seconds)
    write_summary(dict(experts=len(shard), samples=len(rows), sample_seconds=seconds,
                       seconds_per_image=seconds / max(len(rows), 1), sampler=cfg.sample.sampler,
                       sampler_steps=cfg.sample.steps, guidance=cfg.sample.guidance), args.summary,
                  figures=(args.grid,))


def tracking_tags(args) -> dict:
    return {"shard": Path(args.experts).parent.name}
