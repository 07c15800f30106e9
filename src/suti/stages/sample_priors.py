"""`suti sample-priors`: class-prior images for prior preservation, sampled from the base model per class."""

from __future__ import annotations

from suti import io, tracking
from suti.config import from_dict
from suti.data import tables
from suti.data.images import encode_png
from suti.experts.config import ExpertsSection
from suti.experts.prompts import class_prompt
from suti.models.pipeline import TextToImagePipeline
from suti.stages.common import add_params_argument, log
from suti.world import vocab

HELP = "sample class-prior images from the base model (DreamBooth prior preservation)"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--base", required=True, help="exported base model directory")
    p.add_argument("--out", required=True, help="output parquet of prior images")


def run(args) -> None:
    seed = int(args.params["seed"])
    cfg = from_dict(ExpertsSection, args.params["experts"])
    pipe = TextToImagePipeline.load(args.base)
    prompts = [class_prompt(c) for c in vocab.CLASSES for _ in range(cfg.priors_per_class)]
    images = pipe.sample(prompts, seed, cfg.sample.sampling, batch_size=cfg.sample.batch_size)
    rows = [{"class_noun": p.rsplit(" ", 1)[-1], "prompt": p, "seed": seed, "image": encode_png(im)}
            for p, im in zip(prompts, images)]
    io.write_parquet(tables.from_rows(rows, tables.PRIORS), args.out)
    tracking.active().log_metrics({"images": len(rows), "classes": len(vocab.CLASSES)})
    log.info("wrote %d prior images (%d classes) to %s", len(rows), len(vocab.CLASSES), args.out)
