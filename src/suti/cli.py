"""`suti <stage> ...`: every pipeline stage as a command with explicit paths (see `suti --help`)."""

from __future__ import annotations

import argparse
import os
import sys

from suti import tracking
from suti.errors import SutiError
from suti.stages import (
    build_corpus,
    dreambench,
    eval_base,
    eval_experts,
    eval_table,
    evaluate,
    filter_samples,
    generate,
    generate_eval,
    mine_clusters,
    pretrain_base,
    pretrain_clip,
    pretrain_probe,
    release_pretrained,
    report,
    sample,
    sample_experts,
    sample_priors,
    score_eval,
    score_samples,
    train_apprentice,
    train_base,
    train_experts,
    train_probe,
    train_scorer,
)
from suti.stages.common import setup_logging

COMMANDS = {
    "pretrain-clip": pretrain_clip,
    "pretrain-probe": pretrain_probe,
    "pretrain-base": pretrain_base,
    "release-pretrained": release_pretrained,
    "build-corpus": build_corpus,
    "mine-clusters": mine_clusters,
    "train-probe": train_probe,
    "train-base": train_base,
    "eval-base": eval_base,
    "sample": sample,
    "sample-priors": sample_priors,
    "train-experts": train_experts,
    "sample-experts": sample_experts,
    "eval-experts": eval_experts,
    "train-scorer": train_scorer,
    "score-samples": score_samples,
    "filter-samples": filter_samples,
    "generate-eval": generate_eval,
    "score-eval": score_eval,
    "evaluate": evaluate,
    "eval-table": eval_table,
    "train-apprentice": train_apprentice,
    "generate": generate,
    "report": report,
    "index-dreambench": dreambench,
    "fetch-dreambench": dreambench.Fetch,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="suti", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return p


def main(argv=None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a missing pretrained weight fails at once, not after retries
    try:
        args = parser().parse_args(argv)
    except SutiError as err:  # raised by argument type converters (bad --params)
        print(f"suti: error: {err}", file=sys.stderr)
        return 2
    setup_logging()
    module = COMMANDS[args.command]
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
