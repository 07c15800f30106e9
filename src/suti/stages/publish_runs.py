"""`suti publish-runs`: log the spooled run records of stage jobs to MLflow (`suti.tracking`). The workflow does
this itself when it ends; by hand it publishes what a killed workflow left behind."""

from __future__ import annotations

from suti import tracking
from suti.stages.common import log

HELP = "log the stage runs spooled by the workflow to MLflow (MLFLOW_TRACKING_URI, default results/mlflow.db)"


def add_arguments(p) -> None:
    p.add_argument("--spool", default=tracking.DEFAULT_SPOOL, help="the spool folder the workflow's jobs write")


def run(args) -> None:
    log.info("%d run(s) published from %s", tracking.publish(args.spool), args.spool)
