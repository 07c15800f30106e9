"""`suti train-base`: the base text-to-image model, trained on the mined train split only."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq

from suti.config import from_dict
from suti.data.images import save_png
from suti.data.training_set import from_clusters
from suti.models.clip_text import ClipTextTower
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import param_counts
from suti.pretrain import release
from suti.stages.common import add_params_argument, log, write_summary
from suti.training.base_model import BaseConfig, drop_heldout_combos, fit, model_config, sample_grid
from suti.training.checkpoints import Checkpointer, export_model
from suti.training.fingerprint import fingerprint, resumable_dir

HELP = "train the base text-to-image model on the mined train split"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--clusters", required=True, help="mined clusters parquet (the train split is used)")
    p.add_argument("--model", required=True, help="output directory of the exported model (EMA weights)")
    p.add_argument("--summary", required=True, help="output JSON summary")
    p.add_argument("--samples", required=True, help="output PNG grid of samples")
    p.add_argument("--text-tower", help="frozen text tower of text_encoder clip: open_clip local-dir folder or "
                                        "MODEL:PRETRAINED")
    p.add_argument("--pretrained", help="a released base model (pretrained/base): checked against the config and "
                                        "world, copied to --model, its samples drawn, instead of training")


def run(args) -> None:
    seed, resolution = int(args.params["seed"]), int(args.params["world"]["resolution"])
    cfg = from_dict(BaseConfig, args.params["base"])
    if args.pretrained:
        return use_pretrained(args, cfg, seed, resolution)
    tower = ClipTextTower.load(args.text_tower) if args.text_tower else None
    model_config(cfg.model, resolution, tower)  # a missing tower fails here, before the data is read
    ds, n_dropped = drop_heldout_combos(from_clusters(pq.read_table(args.clusters), "train"), cfg.heldout_combos)
    log.info("training on %d images of %d subjects (%d dropped for held-out combinations)",
             len(ds), len(set(ds.groups)), n_dropped)
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params, args.clusters))
    pipe, history, seconds = fit(cfg, resolution, ds, seed, tower, Checkpointer(work))
    export_model(args.model, pipe.params, {"model": pipe.model_cfg, "diffusion": cfg.diffusion,
                                           "tokenizer": pipe.tokenizer.to_json(),
                                           "trained_on": {"images": len(ds), "subjects": len(set(ds.groups)),
                                                          "heldout_combos": cfg.heldout_combos}})
    shutil.rmtree(work)
    save_png(sample_grid(pipe, cfg.sample, seed), args.samples)
    n_params, n_frozen = param_counts(pipe.params)
    write_summary(dict(images=len(ds), subjects=len(set(ds.groups)), dropped_heldout_combo_images=n_dropped,
                       params=n_params, frozen_params=n_frozen, text_encoder=pipe.model_cfg.text_encoder,
                       text_tower=args.text_tower or "", steps=cfg.train.steps, train_seconds=seconds,
                       examples_per_s=float(np.mean([h["examples_per_s"] for h in history[1:]] or [0])),
                       final_loss=history[-1]["loss"], loss_curve=history), args.summary, figures=(args.samples,))


def use_pretrained(args, cfg: BaseConfig, seed: int, resolution: int) -> None:
    """The released base model instead of a trained one: checked, copied, and its sample grid drawn."""
    architecture = release.base_architecture(args.params["base"])
    record = release.adopt(args.pretrained, args.model, "base.init", architecture, "base", resolution)
    pipe = TextToImagePipeline.load(args.model)
    save_png(sample_grid(pipe, cfg.sample, seed), args.samples)
    n_params, n_frozen = param_counts(pipe.params)
    log.info("pretrained base model %s (%d images seen)", args.pretrained, record["images_seen"])
    write_summary(dict(init="pretrained", pretrained=str(args.pretrained), git_commit=record["git_commit"],
                       images=record["images_seen"], params=n_params, frozen_params=n_frozen,
                       text_encoder=pipe.model_cfg.text_encoder, train_seconds=0.0,
                       pretrain_seconds=record["wall_seconds"]), args.summary, figures=(args.samples,))
