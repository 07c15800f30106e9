"""`suti pretrain-base`: the base text-to-image model trained on the pretraining render stream, conditioned on the
pretrained CLIP's frozen text tower, with its learning curve (held-out and seen class / colour / background by the
pretrained probe, every `pretrain.base.curve_every` steps) and final quality."""

from __future__ import annotations

import dataclasses
import shutil

from suti.config import from_dict
from suti.data.images import save_png
from suti.errors import SutiError
from suti.evaluation import base_quality as bq
from suti.models.clip_text import ClipTextTower
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import param_counts
from suti.pretrain import LearningCurve, milestones, release
from suti.pretrain import base as pretrain_base
from suti.pretrain.config import PretrainConfig
from suti.scoring.probe import load_probe
from suti.stages.common import add_params_argument, log, write_summary
from suti.training.base_model import BaseConfig, model_config, sample_grid
from suti.training.checkpoints import Checkpointer, export_model
from suti.training.fingerprint import fingerprint, resumable_dir

HELP = "pretrain the base text-to-image model on the SynthBench render stream"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--text-tower", help="the pretrained CLIP (open_clip local-dir folder) whose frozen text tower "
                   "conditions a fresh model (a continued one, pretrain.base.init_from, brings its own)")
    p.add_argument("--probe", required=True, help="the pretrained probe that reads the learning curve")
    p.add_argument("--model", required=True, help="output directory of the exported model (EMA weights)")
    p.add_argument("--summary", required=True, help="output JSON: learning curve and final quality")
    p.add_argument("--samples", required=True, help="output PNG: one row per class")


def run(args) -> None:
    resolution = int(args.params["world"]["resolution"])
    pre = from_dict(PretrainConfig, args.params["pretrain"])
    cfg = dataclasses.replace(from_dict(BaseConfig, args.params["base"]), train=pre.base.train,
                              sample=pre.base.sample)
    if pre.base.init_from:  # continue a released model: its own tokenizer and text tower, the stream after it
        earlier = release.check(pre.base.init_from, "pretrain.base.init_from",
                                release.base_architecture(args.params["base"]), "base", resolution)
        start = TextToImagePipeline.load(pre.base.init_from)
        tokenizer, graphdef, params, mcfg = start.tokenizer, start.graphdef, start.params, start.model_cfg
        continued = continued_from(pre.base.init_from, earlier)
        inputs = (pre.base.init_from, args.probe)
    else:
        if not args.text_tower:
            raise SutiError("pretrain-base: --text-tower needed (or pretrain.base.init_from, to continue a release)")
        tower = ClipTextTower.load(args.text_tower)
        mcfg = model_config(cfg.model, resolution, tower)
        tokenizer, graphdef, params = pretrain_base.init(mcfg, pre.seed, tower)
        continued, inputs = None, (args.text_tower, args.probe)
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params, *inputs))
    commit = release.training_commit(work)  # the code that started it, kept across resumes
    seen, first_step = (continued["images_seen"], continued["stream_steps"]) if continued else (0, 0)
    ckpt, curve, history = Checkpointer(work), LearningCurve(work, cfg.train.batch_size, seen), []
    probe = load_probe(args.probe)[:2]

    def reading(pipe):
        return pretrain_base.curve_point(pipe, probe, cfg, pre.seed, int(pre.base.curve["colours_per_combo"]),
                                         int(pre.base.curve["n_per_prompt"]))

    if continued and not curve.has(0):  # where it starts, read by today's code (the release's figures may be older)
        curve.add(0, reading(start))
    with pretrain_base.stream_batches(tokenizer, cfg, pre.seed, resolution, pre.render_workers,
                                      first_step) as batches:
        for stop in milestones(cfg.train.steps, pre.base.curve_every):
            state, segment = pretrain_base.train_segment(graphdef, params, tokenizer, cfg, pre.seed, batches, ckpt,
                                                         stop)
            history = segment  # from step 0: a resumed segment brings the earlier rows from the checkpoints
            if curve.has(stop):
                continue
            point = reading(TextToImagePipeline(graphdef, state["ema"], tokenizer, mcfg, cfg.diffusion))
            curve.add(stop, point)
            log.info("learning curve at %d images: %s", seen + stop * cfg.train.batch_size, point)
    seconds = curve.seconds()
    pipe = TextToImagePipeline(graphdef, state["ema"], tokenizer, mcfg, cfg.diffusion)
    final = final_quality(pipe, probe, cfg, pre, resolution)
    images = seen + cfg.train.steps * cfg.train.batch_size
    export_model(args.model, pipe.params, {"model": mcfg, "diffusion": cfg.diffusion,
                                           "tokenizer": tokenizer.to_json(),
                                           "trained_on": {"stream": "pretrain", "seed": pre.seed,
                                                          "images": images,
                                                          "heldout_combos": cfg.heldout_combos}})
    save_png(sample_grid(pipe, cfg.sample, pre.seed), args.samples)
    shutil.rmtree(work)
    n_params, n_frozen = param_counts(pipe.params)
    extra = {"continued_from": continued} if continued else {}
    write_summary(dict(final, **extra, git_commit=commit, learning_curve=curve.points,
                       images_seen=images, stream_steps=first_step + cfg.train.steps, params=n_params,
                       frozen_params=n_frozen, steps=cfg.train.steps, train_seconds=seconds,
                       hardware=release.hardware(), loss_curve=history), args.summary, figures=(args.samples,))


def continued_from(folder: str, record: dict) -> dict:
    """What a continued model started from: its provenance's figures, and the stream steps it drew (0 up to
    `stream_steps`), after which the continuation draws its batches, so that it never sees the same renders twice.
    (Releases before the record: a fresh run drew images_seen / batch_size steps.)"""
    batch = int(record["config"]["pretrain"]["base"]["train"]["batch_size"])
    steps = record.get("stream_steps", -(-int(record["images_seen"]) // batch))
    earlier = {k: record[k] for k in ("git_commit", "release_commit", "config_hash", "continued_from") if k in record}
    return {"folder": str(folder), "images_seen": int(record["images_seen"]), "wall_seconds": record["wall_seconds"],
            "hardware": record["hardware"], **earlier,
            "quality": {k: record["quality"][k] for k in ("generated", "class_word_effect") if k in record["quality"]},
            "stream_steps": int(steps)}


def final_quality(pipe, probe, cfg, pre, resolution: int) -> dict:
    """eval_base's measure on the final model: held-out and seen combinations with intervals, the class word
    effect, and the probe's reading of ground-truth renders of the same prompts."""
    n, colours = int(pre.base.eval["n_per_prompt"]), int(pre.base.eval["colours_per_combo"])
    out = pretrain_base.curve_point(pipe, probe, cfg, pre.seed, colours, n)
    specs = bq.prompt_specs([tuple(c) for c in cfg.heldout_combos], colours, pre.seed)
    out["ground_truth_renders"] = bq.accuracy(*probe, bq.oracle_renders(specs, n, pre.seed, resolution), specs, n)
    out["ground_truth_class_word_effect"] = bq.render_class_word_effect(resolution)
    out.update(chance=bq.chance(), prompts=len(specs), samples_per_prompt=n, guidance=cfg.sample.guidance,
               sampler_steps=cfg.sample.steps, scorer="suti-probe-cnn")
    return out
