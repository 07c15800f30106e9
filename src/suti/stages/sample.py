"""`suti sample --ckpt DIR --prompt "..." --n 8 --seed 0 --out grid.png`: a PNG grid from an exported model."""

from __future__ import annotations

import math

from suti.data.images import grid, save_png
from suti.diffusion.config import SampleConfig
from suti.models.pipeline import TextToImagePipeline
from suti.stages.common import add_sampling_arguments

HELP = "sample a PNG grid from an exported text-to-image model"


def add_arguments(p) -> None:
    p.add_argument("--ckpt", required=True, help="exported model directory (e.g. results/base/model)")
    p.add_argument("--prompt", required=True)
    add_sampling_arguments(p, n=8, steps=50)


def run(args) -> None:
    pipe = TextToImagePipeline.load(args.ckpt)
    cfg = SampleConfig(sampler=args.sampler, steps=args.steps, guidance=args.guidance)
    images = pipe.sample([args.prompt] * args.n, args.seed, cfg, batch_size=min(args.n, 32))
    save_png(grid(list(images), cols=min(args.n, math.ceil(math.sqrt(args.n))), scale=args.scale), args.out)
