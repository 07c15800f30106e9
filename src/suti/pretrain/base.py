"""The pretrained base text-to-image model: trained on the pretraining render stream (captioned renders of
identities no experiment contains, held-out (class, background) pairs never shown), conditioned on the pretrained
CLIP's frozen text tower. Its learning curve (images seen against held-out class, colour and background by the
probe) is measured during training at fixed milestones."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from suti import streams, world
from suti.data.training_set import to_unit_range
from suti.evaluation import base_quality as bq
from suti.models.clip_text import ClipTextTower
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import ModelConfig, build_tokenizer
from suti.pretrain import stream
from suti.training.t2i import fit_t2i, init_model
from suti.world import prompts

TOKENIZER_CAPTIONS = 4096   # stream captions the tokenizer's vocabulary is built from (with every prompt word)


def stream_tokenizer(mcfg: ModelConfig, seed: int):
    """The tokenizer of the stream's words: a few thousand stream captions plus every prompt and caption word."""
    rng = np.random.default_rng([seed, streams.PRETRAIN_BASE, streams.PRETRAIN_TOKENIZER])
    captions = [world.describe(*stream.draw(rng, seed), rng) for _ in range(TOKENIZER_CAPTIONS)]
    return build_tokenizer(mcfg, captions + prompts.vocabulary_texts())


def training_batch(tokenizer, rendered: dict) -> dict:
    """{"images" [-1, 1], "tokens"}: a stream batch as the train step takes it."""
    return {"images": to_unit_range(rendered["images"]), "tokens": tokenizer.encode(rendered["captions"])}


def stream_batches(tokenizer, cfg, seed: int, resolution: int, workers: int = 0,
                   first_step: int = 0) -> stream.RenderPool:
    """batch_fn(step) -> training batch of the base model's render stream (fresh captioned renders every step; the
    held-out (class, background) pairs never drawn), made ahead by `workers` processes; close it when done.
    Training step s draws the stream's step `first_step + s` (a continued model goes on after the steps it saw)."""
    return stream.RenderPool(workers, seed, streams.PRETRAIN_BASE, cfg.train.batch_size, resolution,
                             cfg.heldout_combos, functools.partial(training_batch, tokenizer), first_step)


def init(mcfg: ModelConfig, seed: int, tower: ClipTextTower | None):
    """(tokenizer, graphdef, params) of a fresh base model for the stream."""
    tokenizer = stream_tokenizer(mcfg, seed)
    graphdef, params = init_model(mcfg, tokenizer.size, seed, tower and tower.text_weights(tokenizer))
    return tokenizer, graphdef, params


def train_segment(graphdef, params, tokenizer, cfg, seed: int, batches, ckpt, stop_at: int):
    """Train on `batches` (`stream_batches`), resuming from `ckpt`, up to step `stop_at`; returns (state, history).
    `params` (the fresh model, the template a resume restores into) is copied: the train step donates its state's
    buffers."""
    params = jax.tree.map(jnp.copy, params)
    return fit_t2i(graphdef, params, batches, tokenizer.encode([""])[0], cfg.diffusion, cfg.train, seed, ckpt,
                   stop_at, desc="pretrain_base")


def curve_point(pipe: TextToImagePipeline, probe, cfg, seed: int, colours_per_combo: int, n_per_prompt: int) -> dict:
    """Held-out and seen class / colour / background by the probe (with 95% intervals) and the class word effect."""
    graphdef, params = probe
    specs = bq.prompt_specs([tuple(c) for c in cfg.heldout_combos], colours_per_combo, seed)
    images = bq.sample_specs(pipe, specs, n_per_prompt, seed, cfg.sample)
    hits = bq.correct(graphdef, params, images, specs, n_per_prompt)
    return {"generated": bq.split_accuracy(hits, specs), "generated_ci95": bq.interval95(hits, specs),
            "class_word_effect": bq.class_word_effect(pipe, cfg.sample)}
