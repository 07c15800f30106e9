"""`suti pretrain-clip`: the small CLIP trained on the pretraining render stream (identities no experiment contains),
with its zero-shot class / colour / background accuracy and caption retrieval on renders of held-out identities."""

from __future__ import annotations

import shutil

from suti.config import from_dict
from suti.errors import SutiError
from suti.pretrain import LearningCurve, release
from suti.pretrain.clip import TrainingClip, heldout_renders, pretrain_clip, quality, zero_shot
from suti.pretrain.config import PretrainConfig, clip_config
from suti.scoring.clip import ClipScorer
from suti.scoring.clip_training import export_clip, training_device
from suti.stages.common import add_params_argument, log, progress, write_summary
from suti.training.fingerprint import fingerprint, resumable_dir

HELP = "pretrain the small CLIP on the SynthBench render stream"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--model", required=True, help="output open_clip local-dir folder")
    p.add_argument("--summary", required=True, help="output JSON: zero-shot accuracy, retrieval, images seen")


def run(args) -> None:
    resolution = int(args.params["world"]["resolution"])
    pre = from_dict(PretrainConfig, args.params["pretrain"])
    cfg = clip_config(args.params["scorer"], pre.clip)
    if pre.clip.curve_every % pre.clip.checkpoint_every:
        raise SutiError(f"pretrain.clip.curve_every ({pre.clip.curve_every}) must be a multiple of "
                        f"pretrain.clip.checkpoint_every ({pre.clip.checkpoint_every})")
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params))
    commit = release.training_commit(work)  # the code that started it, kept across resumes
    curve = LearningCurve(work, cfg.batch_size)
    renders = heldout_renders(pre.clip.curve_eval, pre.seed, resolution) if pre.clip.curve_every else None

    def read_curve(step, model):
        if renders is None or curve.has(step):
            return
        point = zero_shot(TrainingClip(model, cfg.context_length), renders)
        curve.add(step, point)
        log.info("learning curve at %d images: %s", step * cfg.batch_size, point)

    with progress(cfg.steps, "pretrain_clip") as bar:
        model, history = pretrain_clip(cfg, pre.seed, resolution, bar, work, pre.clip.checkpoint_every,
                                       workers=pre.render_workers, curve_every=pre.clip.curve_every,
                                       on_reading=read_curve)
    seconds = curve.seconds()
    export_clip(model, cfg, resolution, args.model, {"name": "suti-pretrained-clip", "scorer": cfg.__dict__,
                                                     "train_seconds": seconds})
    shutil.rmtree(work)
    scores = quality(ClipScorer(f"local-dir:{args.model}"), pre.clip.n_eval, pre.seed, resolution)
    log.info("pretrained CLIP on held-out renders: %s", scores)
    write_summary(dict(scores, git_commit=commit, images_seen=cfg.steps * cfg.batch_size, train_seconds=seconds,
                       steps_run_here=len(history), hardware=dict(release.hardware(), torch_device=training_device()),
                       final_loss=history[-1]["loss"] if history else None, learning_curve=curve.points,
                       loss_curve=history[::50]), args.summary)
