"""`suti <stage> ...`: every pipeline stage as a command with explicit paths (see `suti --help`)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from suti import tracking
from suti.config import parse_params
from suti.errors import SutiError
from suti.scoring import registry
from suti.stages.common import setup_logging

# command -> module of suti.stages (":Class" where one module holds two commands). A command imports only its own
# module: stages import JAX or torch, and a bad input should fail before those seconds are spent.
COMMANDS = {
    "pretrain-clip": "pretrain_clip",
    "pretrain-probe": "pretrain_probe",
    "pretrain-judge": "pretrain_judge",
    "pretrain-base": "pretrain_base",
    "pretrain-apprentice": "pretrain_apprentice",
    "release-pretrained": "release_pretrained",
    "build-corpus": "build_corpus",
    "mine-clusters": "mine_clusters",
    "train-probe": "train_probe",
    "train-base": "train_base",
    "eval-base": "eval_base",
    "sample": "sample",
    "sample-priors": "sample_priors",
    "train-experts": "train_experts",
    "sample-experts": "sample_experts",
    "eval-experts": "eval_experts",
    "train-scorer": "train_scorer",
    "score-samples": "score_samples",
    "filter-samples": "filter_samples",
    "generate-eval": "generate_eval",
    "score-eval": "score_eval",
    "evaluate": "evaluate",
    "time-methods": "time_methods",
    "select-tau": "select_tau",
    "eval-table": "eval_table",
    "train-apprentice": "train_apprentice",
    "generate": "generate",
    "report": "report",
    "index-dreambench": "dreambench",
    "fetch-dreambench": "dreambench:Fetch",
    "check-config": "check_config",
    "publish-runs": "publish_runs",
    "machine-index": "machine_index",
}


def command(name: str):
    """The stage module (or class) behind a command: add_arguments, run, HELP."""
    module, _, attr = COMMANDS[name].partition(":")
    loaded = importlib.import_module(f"suti.stages.{module}")
    return getattr(loaded, attr) if attr else loaded


def parser(names=COMMANDS) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="suti", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for name in names:
        stage = command(name)
        stage.add_arguments(sub.add_parser(name, help=stage.HELP, description=stage.HELP))
    return p


def preflight(argv: list[str]) -> None:
    """Checks of a stage's --params that need no heavy import: a configured open_clip model that is unknown, or whose
    weights are not on this machine, fails here in about a second instead of after the stage's imports."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--params", type=parse_params, default={})
    params = p.parse_known_args(argv)[0].params
    for model, pretrained, key in registry.open_clip_models(params):  # the models planning checks
        registry.require_open_clip_weights(model, pretrained, key)


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a missing pretrained weight fails at once, not after retries
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = argv[:1] if argv[:1] and argv[0] in COMMANDS else list(COMMANDS)
    try:
        if len(chosen) == 1:
            preflight(argv[1:])
        args = parser(chosen).parse_args(argv)
    except SutiError as err:  # a failed preflight, or an argument type converter (bad --params)
        print(f"suti: error: {err}", file=sys.stderr)
        return 2
    setup_logging()
    module = command(args.command)
    try:
        if hasattr(args, "params"):  # a pipeline stage: one tracked run per job
            tags = module.tracking_tags(args) if hasattr(module, "tracking_tags") else {}
            with tracking.stage_run(args.command.replace("-", "_"), args.params, **tags):
                module.run(args)
        else:
            module.run(args)
    except SutiError as err:
        print(f"suti: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
