"""`suti train-base`: the base text-to-image model, trained on the mined train split only."""

from __future__ import annotations

import dataclasses
import shutil
import time

import jax
import numpy as np
import pyarrow.parquet as pq

from suti.config import from_dict
from suti.data.images import grid, save_png
from suti.data.training_set import ImageTextSet, from_clusters
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import ModelConfig
from suti.models.text import Tokenizer, words
from suti.models.unet import UNetConfig
from suti.stages.common import add_params_argument, log, write_summary
from suti.training.checkpoints import Checkpointer, export_model
from suti.training.config import DiffusionConfig, SampleConfig, TrainConfig
from suti.training.fingerprint import fingerprint, resumable_dir
from suti.training.t2i import init_model, train_t2i
from suti.world import prompts, vocab

HELP = "train the base text-to-image model on the mined train split"


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    model: dict = dataclasses.field(default_factory=dict)   # ModelConfig fields, UNet fields under "unet"
    diffusion: DiffusionConfig = DiffusionConfig()
    train: TrainConfig = TrainConfig()
    sample: SampleConfig = SampleConfig()
    heldout_combos: tuple = ()       # (class, background) pairs whose captions are kept out of training
    eval: dict = dataclasses.field(default_factory=dict)   # read by `suti eval-base`


def model_config(section: dict, resolution: int) -> ModelConfig:
    """The ModelConfig of a `base.model` config section at the world's resolution."""
    fields = dict(section)
    unet = from_dict(UNetConfig, dict(fields.pop("unet", {}), resolution=resolution))
    cfg = from_dict(ModelConfig, fields)
    return dataclasses.replace(cfg, unet=dataclasses.replace(unet, context_dim=cfg.text_dim))


def names_combo(caption: str, cls: str, background: str) -> bool:
    """Does a caption name both the class and the background (e.g. "... mug on the beach")?"""
    text = " ".join(words(caption))
    return cls in text.split() and " ".join(words(vocab.BACKGROUNDS[background])) in text


def drop_heldout_combos(ds: ImageTextSet, combos) -> tuple[ImageTextSet, int]:
    """The set without images whose captions name a held-out (class, background) combination."""
    keep = np.array([not any(names_combo(t, c, b) for c, b in combos) for t in ds.texts])
    return ds.subset(keep), int((~keep).sum())


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--clusters", required=True, help="mined clusters parquet (the train split is used)")
    p.add_argument("--model", required=True, help="output directory of the exported model (EMA weights)")
    p.add_argument("--summary", required=True, help="output JSON summary")
    p.add_argument("--samples", required=True, help="output PNG grid of samples")


def sample_grid(pipe: TextToImagePipeline, cfg: SampleConfig, seed: int) -> np.ndarray:
    """One row per class: the class in a few colours and places (4 columns)."""
    places = [("red", "studio"), ("blue", "beach"), ("yellow", "grass"), ("purple", "night sky")]
    texts = [prompts.scene_prompt(cls, c, b) for cls in vocab.CLASSES for c, b in places]
    return grid(list(pipe.sample(texts, seed, cfg)), cols=len(places), scale=2)


def run(args) -> None:
    seed, resolution = int(args.params["seed"]), int(args.params["world"]["resolution"])
    cfg = from_dict(BaseConfig, args.params["base"])
    mcfg = model_config(cfg.model, resolution)
    ds, n_dropped = drop_heldout_combos(from_clusters(pq.read_table(args.clusters), "train"), cfg.heldout_combos)
    log.info("training on %d images of %d subjects (%d dropped for held-out combinations)",
             len(ds), len(set(ds.groups)), n_dropped)
    tokenizer = Tokenizer.build(list(ds.texts) + prompts.vocabulary_texts(), mcfg.max_tokens)
    graphdef, params = init_model(mcfg, tokenizer.size, seed)
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params, args.clusters))
    start = time.perf_counter()
    state, history = train_t2i(graphdef, params, ds.images, tokenizer.encode(ds.texts),
                               tokenizer.encode([""])[0], cfg.diffusion, cfg.train, seed, Checkpointer(work))
    seconds = time.perf_counter() - start
    export_model(args.model, state["ema"], {"model": mcfg, "diffusion": cfg.diffusion, "tokenizer": tokenizer.to_json(),
                                             "trained_on": {"images": len(ds), "subjects": len(set(ds.groups)),
                                                            "heldout_combos": cfg.heldout_combos}})
    shutil.rmtree(work)
    pipe = TextToImagePipeline(graphdef, state["ema"], tokenizer, mcfg, cfg.diffusion)  # the exported weights
    save_png(sample_grid(pipe, cfg.sample, seed), args.samples)
    n_params = int(sum(np.size(x) for x in jax.tree.leaves(state["ema"])))
    write_summary(dict(images=len(ds), subjects=len(set(ds.groups)), dropped_heldout_combo_images=n_dropped,
                       params=n_params, steps=cfg.train.steps, train_seconds=seconds,
                       examples_per_s=float(np.mean([h["examples_per_s"] for h in history[1:]] or [0])),
                       final_loss=history[-1]["loss"], loss_curve=history), args.summary, figures=(args.samples,))
