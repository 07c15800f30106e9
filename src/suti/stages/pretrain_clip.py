"""`suti pretrain-clip`: a small CLIP trained on the pretraining render stream (identities no experiment contains),
with its zero-shot class / colour / background accuracy and caption retrieval on renders of held-out identities.

Two CLIPs are trained this way (`--role`): the scoring CLIP (`scorer`: mining, the ΔCLIP filter, the apprentice's
view of its demonstrations) and the evaluation CLIP (`pretrain.eval_clip`), which only scores evaluation images
(CLIP-I, CLIP-T): its own world seed and stream, and a vocabulary of SynthBench's tokens, so that no model is judged
by the CLIP it was trained or filtered with."""

from __future__ import annotations

import shutil

from suti import streams
from suti.config import from_dict
from suti.errors import SutiError
from suti.pretrain import LearningCurve, release
from suti.pretrain.clip import (
    TrainingClip,
    heldout_renders,
    pretrain_clip,
    quality,
    synthbench_vocabulary,
    zero_shot,
)
from suti.pretrain.config import PretrainConfig, clip_config
from suti.scoring.clip import ClipScorer
from suti.scoring.clip_training import export_clip, training_device
from suti.stages.common import add_params_argument, log, progress, write_summary
from suti.training.fingerprint import fingerprint, resumable_dir

HELP = "pretrain a small CLIP (the scoring one or the evaluation one) on the SynthBench render stream"
ROLES = {"scoring": ("clip", "suti-pretrained-clip"), "evaluation": ("eval_clip", "suti-evaluation-clip")}


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--role", choices=sorted(ROLES), default="scoring",
                   help="scoring: the CLIP of mining, filtering and the apprentice (pretrain.clip); evaluation: the "
                        "CLIP that only scores evaluation images (pretrain.eval_clip)")
    p.add_argument("--model", required=True, help="output open_clip local-dir folder")
    p.add_argument("--summary", required=True, help="output JSON: zero-shot accuracy, retrieval, images seen")


def run(args) -> None:
    resolution = int(args.params["world"]["resolution"])
    pre = from_dict(PretrainConfig, args.params["pretrain"])
    section, name = ROLES[args.role]
    budget = getattr(pre, section)
    cfg = clip_config(args.params["scorer"], budget)
    if budget.curve_every % budget.checkpoint_every:
        raise SutiError(f"pretrain.{section}.curve_every ({budget.curve_every}) must be a multiple of "
                        f"pretrain.{section}.checkpoint_every ({budget.checkpoint_every})")
    if args.role == "evaluation":
        seed, stream_id = budget.seed, streams.EVAL_CLIP_TRAIN
        vocabulary = synthbench_vocabulary(seed, cfg.context_length)
    else:
        seed, stream_id, vocabulary = pre.seed, streams.PRETRAIN_CLIP, None
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params))
    commit = release.training_commit(work)  # the code that started it, kept across resumes
    curve = LearningCurve(work, cfg.batch_size)
    renders = heldout_renders(budget.curve_eval, seed, resolution) if budget.curve_every else None

    def read_curve(step, model):
        if renders is None or curve.has(step):
            return
        point = zero_shot(TrainingClip(model, cfg.context_length, vocabulary), renders)
        curve.add(step, point)
        log.info("learning curve at %d images: %s", step * cfg.batch_size, point)

    with progress(cfg.steps, f"pretrain_{section}") as bar:
        model, history = pretrain_clip(cfg, seed, resolution, bar, work, budget.checkpoint_every,
                                       workers=pre.render_workers, curve_every=budget.curve_every,
                                       on_reading=read_curve, stream_id=stream_id, vocabulary=vocabulary)
    seconds = curve.seconds()
    export_clip(model, cfg, resolution, args.model, {"name": name, "scorer": cfg.__dict__, "train_seconds": seconds,
                                                     "world_seed": seed}, vocabulary)
    shutil.rmtree(work)
    scores = quality(ClipScorer(f"local-dir:{args.model}"), budget.n_eval, seed, resolution)
    log.info("pretrained CLIP (%s) on held-out renders: %s", args.role, scores)
    write_summary(dict(scores, role=args.role, world_seed=seed, git_commit=commit,
                       vocabulary=vocabulary.size if vocabulary else None,
                       images_seen=cfg.steps * cfg.batch_size, train_seconds=seconds,
                       steps_run_here=len(history), hardware=dict(release.hardware(), torch_device=training_device()),
                       final_loss=history[-1]["loss"] if history else None, learning_curve=curve.points,
                       loss_curve=history[::50]), args.summary)
