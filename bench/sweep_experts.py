"""The expert recipe sweep: subject fidelity against training steps, one lever at a time.

Each recipe (DreamBooth's own, or it with one lever changed) trains the same K experts (the default run's first K
mined training subjects, with the pipeline's own `train_experts`) and is read at several step counts along one run:
the experts sample identity-preserving prompts (recontextualisation, accessorisation) and the SynthBench probe reads
each sample's class, colour and pattern. Per reading:
  - all3: the fraction of samples whose class, colour and pattern are all read right (issue 17's gate: >= 0.6);
  - class / colour / pattern: per-attribute accuracy;
  - prompt: the fraction whose background or accessory is the prompted one (does the expert still follow prompts,
    or does it copy its training images' scenes?);
  - better: the fraction of experts whose mean identity score beats the base model's on the same prompts and seeds
    with the bare class noun (gate: >= 0.9);
  - expert_steps_per_s: training speed of the recipe on this machine (readings and compiles excluded).
The learning rate schedule is the recipe's over `--steps` (warm-up, cosine decay); readings part-way along it are
reported as such. `--final` rows retrain the chosen recipe with its own step count, to confirm a curve reading.

Needs the inputs of a default run under --results: mined clusters, corpus ground truth, the base model and the probe
(`make run`), and the class priors, which the default recipe no longer samples: `snakemake --profile
workflow/profiles/default results/experts/priors.parquet`.
Run: `python bench/sweep_experts.py [--results results] [--experts 16] [--steps 400] [--recipes dreambooth ...]`
Writes bench/out/experts_sweep.json and prints one table.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from suti import io
from suti.config import deep_update, default_config, from_dict
from suti.data.images import decode_image
from suti.data.training_set import train_subject_pngs
from suti.evaluation import expert_quality as eq
from suti.evaluation.protocol import expected_attributes
from suti.experts.config import ExpertsSection, subject_seed
from suti.experts.priors import load_priors
from suti.experts.prompts import class_prompt, instance_prompt
from suti.experts.store import ExpertShard, image_seed
from suti.experts.training import ExpertData, expert_model, train_experts
from suti.models.pipeline import TextToImagePipeline
from suti.scoring.probe import (
    HEADS,
    load_probe,
    make_predict,
    predict_batched,
    to_model_input,
)
from suti.world import prompts

# Every recipe starts from DreamBooth's own (prior preservation, one instance and one class-prior image per step,
# lambda = 1) and changes one lever, so the sweep reads the same whatever config/config.yaml's default has become.
DREAMBOOTH = {"prior_batch": 1, "prior_weight": 1.0, "instance_batch": 1}
RECIPES = {
    "dreambooth": {},
    "lr-1e-2": {"train": {"learning_rate": 0.01}},
    "lr-2e-2": {"train": {"learning_rate": 0.02}},
    "rank-16": {"lora": {"rank": 16, "alpha": 16.0}},
    "all-blocks": {"lora": {"blocks": ["down", "mid", "up"]}},
    "prior-0.3": {"prior_weight": 0.3},
    "no-prior": {"prior_batch": 0},
    "full-5e-4": {"mode": "full", "strategy": "loop", "train": {"learning_rate": 0.0005}},
    # round two: the levers that helped, on top of no-prior
    "no-prior+all-blocks": {"prior_batch": 0, "lora": {"blocks": ["down", "mid", "up"]}},
    "no-prior+lr-1e-2": {"prior_batch": 0, "train": {"learning_rate": 0.01}},
    "no-prior+instance-2": {"prior_batch": 0, "instance_batch": 2},
}
TEMPLATES_PER_CATEGORY = 2   # identity-preserving templates per category per subject
SAMPLES_PER_PROMPT = 2


def load_inputs(results: str, k: int, seed: int):
    clusters = f"{results}/mining/clusters.parquet"
    images, classes = train_subject_pngs(clusters)
    subjects = sorted(images)[:k]
    truth = eq.subject_truth(pq.read_table(clusters), sorted(glob.glob(f"{results}/corpus/shard-*.parquet")))
    priors = Path(results) / "experts/priors.parquet"
    if not priors.exists():
        raise SystemExit(f"{priors} is missing: snakemake --profile workflow/profiles/default {priors}")
    return dict(subjects=subjects, classes=classes, truth=truth, priors=load_priors(priors),
                images={s: np.stack([decode_image(b) for b in images[s]]) for s in subjects},
                base=TextToImagePipeline.load(f"{results}/base/model"), probe=load_probe(f"{results}/probe/model"),
                seeds=np.array([subject_seed(seed, s) for s in subjects]))


def eval_plan(inp, cfg: ExpertsSection, seed: int) -> list[dict]:
    """Identity-preserving prompts per subject, each drawn from a seed that depends on what it shows."""
    rows = []
    for k, s in enumerate(inp["subjects"]):
        chosen = prompts.choose_templates([int(inp["seeds"][k]), 7], TEMPLATES_PER_CATEGORY)
        for t in (t for t in chosen if t.category != prompts.PROPERTY):
            for i in range(SAMPLES_PER_PROMPT):
                rows.append({"subject": s, "expert": k, "template": t, "seed": image_seed(seed, s, t.prompt_id, i),
                             "prompt": t.format(inp["classes"][s], cfg.identifier)})
    return rows


def identity(inp, images: np.ndarray, plan: list[dict]) -> dict:
    """The probe's identity scores, plus "prompt_correct": the prompted background or accessory read back."""
    graphdef, params, _ = inp["probe"]
    scores = eq.identity_scores(graphdef, params, images, [inp["truth"][r["subject"]] for r in plan])
    pred = predict_batched(make_predict(graphdef), params, to_model_input(images))
    asked = [expected_attributes(inp["truth"][r["subject"]], r["template"])[1] for r in plan]
    scores["prompt_correct"] = np.array([HEADS[h][pred[h][n]] == v for n, (h, v) in enumerate(asked)])
    return scores


def accuracies(scores: dict) -> dict:
    return {"all3": float(scores["all_correct"].mean()),
            **{a: float(scores[f"{a}_correct"].mean()) for a in eq.IDENTITY},
            "prompt": float(scores["prompt_correct"].mean())}


def reading(shard: ExpertShard, inp, cfg: ExpertsSection, plan, base_scores) -> dict:
    images = shard.sample(np.array([r["expert"] for r in plan]), [r["prompt"] for r in plan],
                          np.array([r["seed"] for r in plan]), cfg.sample.sampling, cfg.sample.batch_size)
    scores = identity(inp, images, plan)
    summary, _ = eq.compare(np.array([r["subject"] for r in plan]), scores, base_scores)
    return {**accuracies(scores), "better": summary["fraction_expert_better"],
            "identity_score": summary["expert_identity_score"]}


def run_recipe(inp, name: str, override: dict, steps: int, at: list[int], seed: int, plan, base_scores) -> list[dict]:
    params = deep_update(deep_update(copy.deepcopy(default_config()["experts"]), DREAMBOOTH), override)
    params["train"]["steps"] = steps
    params["train"]["checkpoint_every"] = min(at)
    cfg = from_dict(ExpertsSection, params)
    subjects, classes, tok = inp["subjects"], inp["classes"], inp["base"].tokenizer
    data = ExpertData([inp["images"][s] for s in subjects],
                      tok.encode([instance_prompt(cfg.identifier, classes[s]) for s in subjects]),
                      [inp["priors"][classes[s]] for s in subjects],
                      tok.encode([class_prompt(classes[s]) for s in subjects]), inp["seeds"])
    graphdef, _, frozen = expert_model(inp["base"].graphdef, inp["base"].params, cfg.expert, inp["seeds"])
    # one shard per recipe, so its sampler compiles once; each reading swaps in the experts' new deltas
    shard = ExpertShard(inp["base"], cfg.expert, [{"subject": s} for s in subjects], graphdef, None, frozen)
    work = tempfile.mkdtemp(prefix=f"sweep-{name}-")
    rows, train_seconds, done = [], 0.0, 0
    try:
        for stop in at:
            start = time.perf_counter()
            shard.deltas, _ = train_experts(inp["base"].graphdef, inp["base"].params, data, cfg.expert,
                                      inp["base"].diffusion_cfg, tok.encode([""])[0], ckpt_dir=work, stop_at=stop,
                                      desc=f"{name} to {stop}")
            train_seconds += time.perf_counter() - start
            row = {"recipe": name, "steps": stop, "schedule_steps": steps, "train_seconds": train_seconds,
                   "expert_steps_per_s": len(subjects) * (stop - done) / (time.perf_counter() - start),
                   **reading(shard, inp, cfg, plan, base_scores)}
            done = stop
            print(json.dumps(row), flush=True)
            rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", default="results", help="a default run's results folder")
    p.add_argument("--experts", type=int, default=16, help="experts per recipe (the first K training subjects)")
    p.add_argument("--steps", type=int, default=400, help="the schedule's length")
    p.add_argument("--at", type=int, nargs="+", default=[50, 100, 200, 400], help="steps at which to read fidelity")
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), help=f"from {list(RECIPES)}")
    p.add_argument("--final", nargs="*", default=[], help="RECIPE:STEPS runs with their own schedule")
    p.add_argument("--out", default="bench/out/experts_sweep.json")
    args = p.parse_args()
    seed = int(default_config()["seed"])
    inp = load_inputs(args.results, args.experts, seed)
    cfg = from_dict(ExpertsSection, default_config()["experts"])
    plan = eval_plan(inp, cfg, seed)
    base_images = inp["base"].sample_seeds([r["template"].format(inp["classes"][r["subject"]]) for r in plan],
                                           np.array([r["seed"] for r in plan]), cfg.sample.sampling,
                                           cfg.sample.batch_size)
    base_scores = identity(inp, base_images, plan)
    rows = [{"recipe": "base model", "steps": 0, **accuracies(base_scores)}]
    print(json.dumps(rows[0]), flush=True)
    for name in args.recipes:
        rows += run_recipe(inp, name, RECIPES[name], args.steps, sorted(args.at), seed, plan, base_scores)
        io.write_json({"experts": args.experts, "samples": len(plan), "rows": rows}, args.out)
    for spec in args.final:
        name, steps = spec.rsplit(":", 1)
        rows += run_recipe(inp, f"{name} ({steps}-step schedule)", RECIPES[name], int(steps), [int(steps)], seed,
                           plan, base_scores)
        io.write_json({"experts": args.experts, "samples": len(plan), "rows": rows}, args.out)
    print(f"{'recipe':28s} {'steps':>5s} {'all3':>5s} {'class':>5s} {'colour':>6s} {'pattern':>7s} {'prompt':>6s} "
          f"{'better':>6s} {'exp-steps/s':>11s}")
    for r in rows:
        print(f"{r['recipe']:28s} {r['steps']:5d} {r['all3']:5.2f} {r['class']:5.2f} {r['colour']:6.2f} "
              f"{r['pattern']:7.2f} {r.get('prompt', float('nan')):6.2f} {r.get('better') or 0:6.2f} "
              f"{r.get('expert_steps_per_s') or 0:11.1f}")


if __name__ == "__main__":
    main()
