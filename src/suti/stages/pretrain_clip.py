"""`suti pretrain-clip`: the small CLIP trained on the pretraining render stream (identities no experiment contains),
with its zero-shot class / colour / background accuracy and caption retrieval on renders of held-out identities."""

from __future__ import annotations

import shutil
import time

from suti.config import from_dict
from suti.pretrain import release
from suti.pretrain.clip import pretrain_clip, quality
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
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params))
    start = time.perf_counter()
    with progress(cfg.steps, "pretrain_clip") as bar:
        model, history = pretrain_clip(cfg, pre.seed, resolution, bar, work, pre.clip.checkpoint_every,
                                       workers=pre.render_workers)
    seconds = time.perf_counter() - start
    export_clip(model, cfg, resolution, args.model, {"name": "suti-pretrained-clip", "scorer": cfg.__dict__,
                                                     "train_seconds": seconds})
    shutil.rmtree(work)
    scores = quality(ClipScorer(f"local-dir:{args.model}"), pre.clip.n_eval, pre.seed, resolution)
    log.info("pretrained CLIP on held-out renders: %s", scores)
    write_summary(dict(scores, images_seen=cfg.steps * cfg.batch_size, train_seconds=seconds,
                       steps_run_here=len(history), hardware=dict(release.hardware(), torch_device=training_device()),
                       final_loss=history[-1]["loss"] if history else None,
                       loss_curve=history[::50]), args.summary)
