"""`suti train-probe`: the SynthBench attribute probe, trained on renders, with its accuracy on clean renders."""

from __future__ import annotations

import time

from suti.config import from_dict
from suti.pretrain import release
from suti.scoring.probe import HEADS, ProbeConfig, evaluate_probe, load_probe, train_probe
from suti.stages.common import add_params_argument, log, progress, write_summary
from suti.training.checkpoints import export_model

HELP = "train the SynthBench attribute probe on renders"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--model", required=True, help="output directory of the exported probe")
    p.add_argument("--summary", required=True, help="output JSON: per-attribute accuracy on clean renders")
    p.add_argument("--pretrained", help="a released probe (pretrained/probe): checked against the config and world, "
                                        "copied to --model and measured, instead of training")


def run(args) -> None:
    seed, resolution = int(args.params["seed"]), int(args.params["world"]["resolution"])
    cfg = from_dict(ProbeConfig, args.params["probe"])
    if args.pretrained:
        return use_pretrained(args, cfg, seed, resolution)
    start = time.perf_counter()
    with progress(cfg.steps, "train_probe") as bar:
        graphdef, params, history = train_probe(cfg, seed, resolution, bar)
    seconds = time.perf_counter() - start
    accuracy = evaluate_probe(graphdef, params, cfg.n_eval, seed, resolution)
    log.info("probe accuracy on clean renders: %s", accuracy)
    export_model(args.model, params, {"probe": cfg, "resolution": resolution, "accuracy": accuracy,
                                      "heads": {k: list(v) for k, v in HEADS.items()}})
    write_summary(dict({f"accuracy_{k}": v for k, v in accuracy.items()}, train_seconds=seconds,
                       n_eval=cfg.n_eval, final_loss=history[-1]["loss"], scorer="suti-probe-cnn",
                       loss_curve=history[::50]), args.summary)


def use_pretrained(args, cfg: ProbeConfig, seed: int, resolution: int) -> None:
    """The released probe instead of a trained one, measured on this run's clean renders."""
    record = release.adopt(args.pretrained, args.model, "probe.init", release.probe_architecture(args.params["probe"]),
                           "probe", resolution)
    graphdef, params, _ = load_probe(args.model)
    accuracy = evaluate_probe(graphdef, params, cfg.n_eval, seed, resolution)
    log.info("pretrained probe (%s) on clean renders: %s", args.pretrained, accuracy)
    write_summary(dict({f"accuracy_{k}": v for k, v in accuracy.items()}, init="pretrained",
                       pretrained=str(args.pretrained), git_commit=record["git_commit"], train_seconds=0.0,
                       n_eval=cfg.n_eval, scorer="suti-probe-cnn"), args.summary)
