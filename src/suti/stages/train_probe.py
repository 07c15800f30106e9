"""`suti train-probe`: the SynthBench attribute probe, trained on renders, with its accuracy on clean renders."""

from __future__ import annotations

import time

from flax import nnx

from suti.config import from_dict
from suti.errors import SutiError
from suti.scoring.probe import HEADS, Probe, ProbeConfig, evaluate_probe, train_probe
from suti.stages.common import add_params_argument, log, progress, write_summary
from suti.training.checkpoints import export_model, load_meta, load_params

HELP = "train the SynthBench attribute probe on renders"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--model", required=True, help="output directory of the exported probe")
    p.add_argument("--summary", required=True, help="output JSON: per-attribute accuracy on clean renders")


def load_probe(directory):
    """(graphdef, params, meta) of an exported probe."""
    try:
        meta = load_meta(directory)
    except FileNotFoundError as err:
        raise SutiError(f"no exported probe at {directory}") from err
    cfg = from_dict(ProbeConfig, meta["probe"])
    graphdef, like = nnx.split(nnx.eval_shape(lambda: Probe(cfg.width, nnx.Rngs(0))), nnx.Param)
    return graphdef, load_params(directory, like), meta


def load_probe_reader(directory, min_accuracy: float):
    """The exported probe as a `ProbeReader`: trusted for the heads it reads at >= min_accuracy on clean renders."""
    from suti.evaluation.protocol import ProbeReader

    graphdef, params, meta = load_probe(directory)
    return ProbeReader(graphdef, params, dict(meta["accuracy"]), min_accuracy)


def run(args) -> None:
    seed, resolution = int(args.params["seed"]), int(args.params["world"]["resolution"])
    cfg = from_dict(ProbeConfig, args.params["probe"])
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
