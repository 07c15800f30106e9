"""`suti evaluate`: one method on one benchmark in one process: its images (`suti generate-eval`), then their
metrics (`suti score-eval`).

Rule `evaluate` runs one such job per (benchmark, method). At small scales a job's start-up (imports, loading models,
compiling) costs as much as its work, so generation and scoring share one; both steps stay commands of their own for
running by hand."""

from __future__ import annotations

import argparse

from suti.stages import generate_eval, score_eval

HELP = "generate and score one method's evaluation images on one benchmark"


def add_arguments(p) -> None:
    generate_eval.add_arguments(p)  # --params, --bench, --method, the inputs, --out / --grid / --summary of the images
    p.add_argument("--probe", help="exported SynthBench probe (subject and prompt accuracy)")
    p.add_argument("--eval-clip", help="released evaluation CLIP (pretrained/eval_clip, when scoring.eval_clip.model is "
                                       "empty): CLIP-I and CLIP-T")
    p.add_argument("--judge", help="released identity judge (pretrained/judge): SynthBench identity metrics")
    p.add_argument("--scores", required=True, help="output parquet: one row per image with every metric")
    p.add_argument("--scores-summary", required=True, help="output JSON: means with 95%% intervals")


tracking_tags = generate_eval.tracking_tags


def run(args) -> None:
    generate_eval.run(args)
    score_eval.run(argparse.Namespace(
        params=args.params, generations=args.out, clusters=args.clusters, corpus=args.corpus, probe=args.probe,
        dreambench_images=args.dreambench_images, eval_clip=args.eval_clip, judge=args.judge, out=args.scores, summary=args.scores_summary))
