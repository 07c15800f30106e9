"""`suti index-dreambench` and `suti fetch-dreambench`: DreamBench as stage tables, and its download."""

from __future__ import annotations

from suti import io
from suti.data import dreambench

HELP = "index DreamBench images and prompts into parquet tables"


def add_arguments(p) -> None:
    p.add_argument("--root", required=True, help="DreamBench folder (google/dreambooth's dataset/ layout)")
    p.add_argument("--resolution", type=int, default=224, help="side of the stored (centre-cropped) images")
    p.add_argument("--images", required=True, help="output parquet of images")
    p.add_argument("--prompts", required=True, help="output parquet of prompt templates")


def run(args) -> None:
    images, prompts = dreambench.index_tables(args.root, args.resolution)
    io.write_parquet(images, args.images)
    io.write_parquet(prompts, args.prompts)


class Fetch:
    HELP = "download DreamBench (google/dreambooth dataset/ at a pinned commit)"

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("--out", required=True, help="destination folder, e.g. data/dreambench")

    @staticmethod
    def run(args) -> None:
        dreambench.fetch_dreambench(args.out)
