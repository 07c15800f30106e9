"""`suti generate --demos a.png b.png c.png --class mug --prompt "a {} on the beach" --n 4 --seed 0 --out out.png`:
an unseen subject rendered from its demonstrations by a trained apprentice, with no optimisation."""

from __future__ import annotations

import math

from suti.apprentice.pipeline import ApprenticePipeline, generate, read_demo
from suti.data.images import grid, save_png, square_resize
from suti.diffusion.config import SampleConfig
from suti.errors import SutiError
from suti.stages.common import add_sampling_arguments

HELP = "render a subject from demonstration images with a trained apprentice (no optimisation)"


def add_arguments(p) -> None:
    p.add_argument("--ckpt", default="results/apprentice/none/model", help="exported apprentice directory")
    p.add_argument("--demos", required=True, nargs="+", help="1 to 5 demonstration images of the subject")
    p.add_argument("--class", dest="class_noun", required=True, help="the subject's class noun (e.g. mug)")
    p.add_argument("--prompt", required=True, help='the target prompt, {} standing for the class ("a {} on the beach")')
    add_sampling_arguments(p, n=4, steps=25, out_help="output PNG: the demonstrations, then the generations")


def run(args) -> None:
    if args.n < 1:
        raise SutiError(f"--n {args.n}: give at least 1 image")
    demos = [read_demo(path) for path in args.demos]  # unreadable or missing files fail here, before loading
    pipe = ApprenticePipeline.load(args.ckpt)
    cfg = SampleConfig(sampler=args.sampler, steps=args.steps, guidance=args.guidance)
    images = generate(pipe, demos, args.class_noun, args.prompt, args.n, args.seed, cfg)
    cells = [square_resize(d, pipe.resolution) for d in demos] + list(images)  # demonstrations as the model saw them
    save_png(grid(cells, cols=max(len(demos), min(args.n, math.ceil(math.sqrt(args.n)))), scale=args.scale), args.out)
