"""The base text-to-image model: its config section, construction, training on an image-text set, and the
held-out (class, background) combinations its training never shows."""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from suti.config import from_dict, from_schema, schema_default
from suti.data.images import grid
from suti.data.training_set import ImageTextSet
from suti.diffusion.config import DiffusionConfig, SampleConfig
from suti.errors import SutiError
from suti.models.clip_text import ClipTextTower
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import ModelConfig, build_tokenizer
from suti.models.text import words
from suti.models.unet import UNetConfig
from suti.training.checkpoints import Checkpointer
from suti.training.config import TrainConfig
from suti.training.t2i import init_model, train_t2i
from suti.world import prompts, vocab


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    init: str = schema_default("base.init")  # pretrained: the released base model is loaded instead (`--pretrained`)
    # ModelConfig fields, UNet fields under "unet"
    model: dict = dataclasses.field(default_factory=lambda: schema_default("base.model"))
    diffusion: DiffusionConfig = from_schema(DiffusionConfig, "base.diffusion")
    train: TrainConfig = from_schema(TrainConfig, "base.train")
    sample: SampleConfig = from_schema(SampleConfig, "base.sample")
    # the frozen text tower (folder or MODEL:PRETRAINED; "" = the small CLIP), which the DAG resolves and passes as
    # --text-tower
    text_tower: str = schema_default("base.text_tower")
    # (class, background) pairs whose captions are kept out of training
    heldout_combos: tuple = schema_default("base.heldout_combos")
    eval: dict = dataclasses.field(default_factory=lambda: schema_default("base.eval"))  # read by `suti eval-base`


def model_config(section: dict, resolution: int, tower: ClipTextTower | None = None) -> ModelConfig:
    """The ModelConfig of a `base.model` config section at the world's resolution; with `text_encoder: clip` the
    text sizes are the frozen tower's (`tower`)."""
    fields = dict(section)
    unet = from_dict(UNetConfig, dict(fields.pop("unet", {}), resolution=resolution))
    cfg = from_dict(ModelConfig, fields)
    if cfg.text_encoder == "clip":
        if tower is None:
            raise SutiError("base.model.text_encoder is 'clip': give the frozen text tower (--text-tower DIR)")
        cfg = dataclasses.replace(cfg, text_dim=tower.width, text_layers=tower.layers, text_heads=tower.heads,
                                  max_tokens=tower.context_length)
    return dataclasses.replace(cfg, unet=dataclasses.replace(unet, context_dim=cfg.text_dim,
                                                             text_tokens=cfg.max_tokens))


def names_combo(caption: str, cls: str, background: str) -> bool:
    """Does a caption name both the class and the background (e.g. "... mug on the beach")?"""
    text = " ".join(words(caption))
    return cls in text.split() and " ".join(words(vocab.BACKGROUNDS[background])) in text


def drop_heldout_combos(ds: ImageTextSet, combos) -> tuple[ImageTextSet, int]:
    """The set without images whose captions name a held-out (class, background) combination."""
    keep = np.array([not any(names_combo(t, c, b) for c, b in combos) for t in ds.texts])
    return ds.subset(keep), int((~keep).sum())


def sample_grid(pipe: TextToImagePipeline, cfg: SampleConfig, seed: int) -> np.ndarray:
    """One row per class: the class in a few colours and places (4 columns)."""
    places = [("red", "studio"), ("blue", "beach"), ("yellow", "grass"), ("purple", "night sky")]
    texts = [prompts.scene_prompt(cls, c, b) for cls in vocab.CLASSES for c, b in places]
    return grid(list(pipe.sample(texts, seed, cfg)), cols=len(places), scale=2)


def init_base(mcfg: ModelConfig, texts, seed: int, tower: ClipTextTower | None = None):
    """(tokenizer, graphdef, params) of a fresh base model for training captions `texts` (and the prompt words)."""
    tokenizer = build_tokenizer(mcfg, list(texts) + prompts.vocabulary_texts())
    graphdef, params = init_model(mcfg, tokenizer.size, seed, tower and tower.text_weights(tokenizer))
    return tokenizer, graphdef, params


def timing_tower(config: dict) -> ClipTextTower | None:
    """For speed benchmarks outside the DAG: with text_encoder clip, base.text_tower if set, else a tower of random
    weights shaped as the configured small CLIP (time does not depend on the weights; quality does: never sample)."""
    if config["base"]["model"].get("text_encoder") != "clip":
        return None
    if config["base"].get("text_tower"):
        return ClipTextTower.load(config["base"]["text_tower"])
    s = config["scorer"]
    return ClipTextTower.random(s["width"], s["layers"], s["width"] // s["head_width"], s["context_length"])


def fit(cfg: BaseConfig, resolution: int, ds: ImageTextSet, seed: int, tower: ClipTextTower | None = None,
        ckpt: Checkpointer | None = None, desc: str = "train_base"):
    """Train a base model on `ds`. Returns (pipeline of its EMA weights, history, training seconds)."""
    mcfg = model_config(cfg.model, resolution, tower)
    tokenizer, graphdef, params = init_base(mcfg, ds.texts, seed, tower)
    start = time.perf_counter()
    state, history = train_t2i(graphdef, params, ds.images, tokenizer.encode(ds.texts), tokenizer.encode([""])[0],
                               cfg.diffusion, cfg.train, seed, ckpt, desc=desc)
    seconds = time.perf_counter() - start
    return TextToImagePipeline(graphdef, state["ema"], tokenizer, mcfg, cfg.diffusion), history, seconds
