"""Helpers shared by stage entry points: logging, progress bars, params, summaries."""

from __future__ import annotations

import logging
import sys

import pyarrow as pa
from tqdm import tqdm

from suti import io, tracking
from suti.config import parse_params

log = logging.getLogger("suti")


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s",
                        datefmt="%H:%M:%S", force=True)  # force: jax/absl may have configured the root logger
    for noisy in ("absl", "jax._src.xla_bridge", "alembic", "mlflow"):  # orbax/MLflow chatter on every load
        logging.getLogger(noisy).setLevel(logging.WARNING)


def progress(total: int, desc: str) -> tqdm:
    """A progress bar on stderr (the rule's log), updated at most twice a second."""
    return tqdm(total=total, desc=desc, file=sys.stderr, mininterval=0.5, dynamic_ncols=True)


def add_sampling_arguments(p, n: int, steps: int, out_help: str = "output PNG") -> None:
    """--n, --seed, --out, --sampler, --steps, --guidance, --scale: what the by-hand sampling commands share."""
    p.add_argument("--n", type=int, default=n, help="number of images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--sampler", default="ddim", choices=["ddim", "ddpm", "dpmpp2m"])
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--scale", type=int, default=4, help="upscale factor of the grid, for viewing")


def add_params_argument(parser) -> None:
    parser.add_argument("--params", required=True, type=parse_params,
                        help="the rule's config sections as JSON (or @file.json / @file.yaml)")


def write_summary(summary: dict, json_path: str, figures: tuple[str, ...] = ()) -> None:
    """A stage summary: JSON for people and DVC, a one-row parquet table beside it for notebooks, and the same
    numbers (a `loss_curve` as metrics by step), the JSON and `figures` logged to the job's MLflow run."""
    io.write_json(summary, json_path)
    flat = {k: (v if not isinstance(v, (dict, list)) else str(v)) for k, v in summary.items()}
    io.write_parquet(pa.Table.from_pylist([flat]), json_path.rsplit(".", 1)[0] + ".parquet")
    run = tracking.active()
    run.log_metrics({k: v for k, v in summary.items() if k != "loss_curve"})
    run.log_history(summary.get("loss_curve") or [])
    for path in (json_path, *figures):
        run.log_artifact(path)
