"""`suti pretrain-probe`: the SynthBench attribute probe trained on renders of the pretraining identities, with its
accuracy on clean renders of held-out identities."""

from __future__ import annotations

import functools
import shutil
import time

from suti.config import from_dict
from suti.pretrain import release, stream
from suti.pretrain.config import PretrainConfig, probe_config
from suti.scoring.probe import HEADS, evaluate_probe, train_probe
from suti.stages.common import add_params_argument, log, progress, write_summary
from suti.training.checkpoints import Checkpointer, export_model
from suti.training.fingerprint import fingerprint, resumable_dir

HELP = "pretrain the SynthBench attribute probe on renders of the pretraining identities"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--model", required=True, help="output directory of the exported probe")
    p.add_argument("--summary", required=True, help="output JSON: per-attribute accuracy on held-out renders")


def run(args) -> None:
    resolution = int(args.params["world"]["resolution"])
    pre = from_dict(PretrainConfig, args.params["pretrain"])
    cfg = probe_config(args.params["probe"], pre.probe)
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params))
    commit = release.training_commit(work)  # the code that started it, kept across resumes
    train_ids = functools.partial(stream.stream_subject, world_seed=pre.seed)
    start = time.perf_counter()
    with progress(cfg.steps, "pretrain_probe") as bar:
        graphdef, params, history = train_probe(cfg, pre.seed, resolution, bar, train_ids, Checkpointer(work),
                                                checkpoint_every=pre.probe.checkpoint_every)
    seconds = time.perf_counter() - start
    heldout_ids = functools.partial(stream.stream_subject, world_seed=pre.seed, heldout=True)
    accuracy = evaluate_probe(graphdef, params, cfg.n_eval, pre.seed, resolution, heldout_ids)
    log.info("pretrained probe on held-out renders: %s", accuracy)
    export_model(args.model, params, {"probe": cfg, "resolution": resolution, "accuracy": accuracy,
                                      "heads": {k: list(v) for k, v in HEADS.items()}})
    shutil.rmtree(work)
    write_summary(dict({f"accuracy_{k}": v for k, v in accuracy.items()}, git_commit=commit, train_seconds=seconds,
                       images_seen=cfg.steps * cfg.batch_size, n_eval=cfg.n_eval, scorer="suti-probe-cnn",
                       final_loss=history[-1]["loss"] if history else None, loss_curve=history[::5]), args.summary)
