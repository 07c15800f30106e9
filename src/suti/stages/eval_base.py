"""`suti eval-base`: the base model's class / colour / background accuracy by the probe, on held-out and seen
(class, background) combinations, beside chance and the probe's own reading of ground-truth renders."""

from __future__ import annotations

import time

from suti.config import from_dict
from suti.data.images import grid, save_png
from suti.evaluation import base_quality as bq
from suti.models.pipeline import TextToImagePipeline
from suti.scoring.probe import load_probe
from suti.stages.common import add_params_argument, log, write_summary
from suti.training.base_model import BaseConfig

HELP = "measure the base model's prompt following with the probe"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--model", required=True, help="exported base model directory")
    p.add_argument("--probe", required=True, help="exported probe directory")
    p.add_argument("--summary", required=True, help="output JSON")
    p.add_argument("--grid", required=True, help="output PNG: held-out prompts (rows) x samples")


def run(args) -> None:
    seed, resolution = int(args.params["seed"]), int(args.params["world"]["resolution"])
    cfg = from_dict(BaseConfig, args.params["base"])
    n, colours = int(cfg.eval.get("n_per_prompt", 4)), int(cfg.eval.get("colours_per_combo", 2))
    specs = bq.prompt_specs([tuple(c) for c in cfg.heldout_combos], colours, seed)
    pipe = TextToImagePipeline.load(args.model)
    start = time.perf_counter()
    images = bq.sample_specs(pipe, specs, n, seed, cfg.sample)
    seconds = time.perf_counter() - start
    word_effect = bq.class_word_effect(pipe, cfg.sample)
    graphdef, params, meta = load_probe(args.probe)
    hits = bq.correct(graphdef, params, images, specs, n)
    generated = bq.split_accuracy(hits, specs)
    oracle = bq.accuracy(graphdef, params, bq.oracle_renders(specs, n, seed, resolution), specs, n)
    summary = {"generated": generated, "generated_ci95": bq.interval95(hits, specs),
               "ground_truth_renders": oracle, "chance": bq.chance(),
               "class_word_effect": word_effect,
               "probe_accuracy_clean_renders": meta["accuracy"], "scorer": "suti-probe-cnn",
               "prompts": len(specs), "samples_per_prompt": n, "sampler": cfg.sample.sampler,
               "sampler_steps": cfg.sample.steps, "guidance": cfg.sample.guidance,
               "seconds_per_image": seconds / len(images)}
    log.info("base quality: %s", summary)
    save_png(grid(bq.heldout_images(images, specs, n), cols=n, scale=2), args.grid)
    write_summary(summary, args.summary, figures=(args.grid,))
