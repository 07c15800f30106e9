"""`suti train-experts`: one shard of subject experts (DreamBooth with prior preservation, many at once)."""

from __future__ import annotations

import shutil
import time

import numpy as np

from suti.config import from_dict
from suti.data.images import decode_image
from suti.data.training_set import train_subject_pngs
from suti.experts.config import ExpertsSection, shard_subjects, subject_seed
from suti.experts.priors import priors_for
from suti.experts.prompts import class_prompt, instance_prompt
from suti.experts.store import save_shard
from suti.experts.training import ExpertData, expert_mesh, train_experts
from suti.models.pipeline import TextToImagePipeline
from suti.stages.common import add_params_argument, log, write_summary
from suti.training.fingerprint import fingerprint, resumable_dir

HELP = "train one shard of subject experts"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--shard", required=True, type=int, help="shard index (which slice of the training subjects)")
    p.add_argument("--clusters", required=True, help="mined clusters parquet")
    p.add_argument("--base", required=True, help="exported base model directory")
    p.add_argument("--priors", help="class-prior images parquet (suti sample-priors); needed when "
                                     "experts.prior_batch > 0")
    p.add_argument("--out", required=True, help="output directory of the shard's experts")
    p.add_argument("--summary", required=True, help="output JSON summary")


def run(args) -> None:
    seed = int(args.params["seed"])
    cfg = from_dict(ExpertsSection, args.params["experts"])
    images, classes = train_subject_pngs(args.clusters)
    subjects = shard_subjects(list(images), cfg, args.shard)
    base = TextToImagePipeline.load(args.base)
    priors = priors_for(args.priors, sorted({classes[s] for s in subjects}), cfg.prior_batch)
    tok = base.tokenizer
    meta = [{"subject": s, "class_noun": classes[s], "identifier": cfg.identifier, "seed": subject_seed(seed, s),
             "images": len(images[s])} for s in subjects]
    log.info("shard %d: %d experts (%s, %s), %d steps each", args.shard, len(subjects), cfg.mode, cfg.strategy,
             cfg.train.steps)
    start = time.perf_counter()
    deltas, history = None, []
    if subjects:
        data = ExpertData(
            instance_images=[np.stack([decode_image(b) for b in images[s]]) for s in subjects],
            instance_tokens=tok.encode([instance_prompt(cfg.identifier, classes[s]) for s in subjects]),
            prior_images=[priors[classes[s]] for s in subjects],
            prior_tokens=tok.encode([class_prompt(classes[s]) for s in subjects]),
            seeds=np.array([m["seed"] for m in meta]))
        work = resumable_dir(f"{args.out}.partial", fingerprint(args.params, args.clusters,
                                                                 *([args.priors] if args.priors else []),
                                                                 f"{args.base}/meta.json"))
        deltas, history = train_experts(base.graphdef, base.params, data, cfg.expert, base.diffusion_cfg,
                                        tok.encode([""])[0], ckpt_dir=work, mesh=expert_mesh(len(subjects)))
        shutil.rmtree(work)
    seconds = time.perf_counter() - start
    save_shard(args.out, deltas, cfg.expert, meta, {"base_model": args.base, "shard": args.shard})
    expert_steps = len(subjects) * cfg.train.steps
    write_summary(dict(shard=args.shard, experts=len(subjects), mode=cfg.mode, strategy=cfg.strategy,
                       steps=cfg.train.steps, train_seconds=seconds, seconds_per_expert=seconds / max(len(subjects), 1),
                       expert_steps_per_s=expert_steps / max(seconds, 1e-9),
                       final_loss=history[-1]["loss"] if history else None, loss_curve=history), args.summary)


def tracking_tags(args) -> dict:
    return {"shard": f"{args.shard:04d}"}
