"""`suti generate-eval`: one method's images for the evaluation plan of one benchmark, timed per subject."""

from __future__ import annotations

import dataclasses
import tempfile

import numpy as np
import pyarrow.parquet as pq

from suti import io
from suti.apprentice.pipeline import ApprenticePipeline
from suti.config import from_dict
from suti.data import tables
from suti.data.images import decode_image, encode_png, grid, save_png
from suti.errors import SutiError
from suti.evaluation import generators, plans, test_split
from suti.evaluation.config import EvaluationConfig
from suti.evaluation.methods import Method, parse_method
from suti.experts.config import ExpertsSection
from suti.experts.priors import priors_for
from suti.models.pipeline import TextToImagePipeline
from suti.stages.common import add_params_argument, log, progress, write_summary

HELP = "generate a method's evaluation images (SynthBench held-out subjects or DreamBench)"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--bench", required=True, choices=("synthbench", test_split.BENCH, "dreambench"),
                   help="synthbench: held-out mined subjects (validation); synthbench_test: the test split's fresh "
                        "subjects and curated demonstrations; dreambench")
    p.add_argument("--method", required=True, type=parse_method,
                   help="base, oracle, experts-k<K>, suti-<tau>-k<K> or dreamsuti-<tau>-k<K>")
    p.add_argument("--clusters", help="mined clusters parquet (synthbench)")
    p.add_argument("--corpus", nargs="+", help="corpus shards (synthbench oracle: ground truth)")
    p.add_argument("--dreambench-images", help="indexed DreamBench photos (dreambench)")
    p.add_argument("--dreambench-prompts", help="indexed DreamBench prompts (dreambench)")
    p.add_argument("--base", help="exported base model (method base)")
    p.add_argument("--apprentice", help="exported apprentice (methods suti-* and dreamsuti-*)")
    p.add_argument("--priors", help="class-prior images (method experts-*: DreamBooth's prior preservation)")
    p.add_argument("--out", required=True, help="output parquet of generations")
    p.add_argument("--grid", required=True, help="output PNG: a few subjects' generations")
    p.add_argument("--summary", required=True, help="output JSON")


def tracking_tags(args) -> dict:
    m = args.method
    return {"bench": args.bench, "method": m.kind, "method_name": m.name, "tau": m.tau, "demos": str(m.demos)}


def _require(args, *names):
    for name in names:
        if not getattr(args, name):
            raise SutiError(f"generate-eval --bench {args.bench} --method {args.method.name} needs "
                            f"--{name.replace('_', '-')}")


def plan_rows(args, cfg: EvaluationConfig, seed: int) -> list[dict]:
    if args.bench == test_split.BENCH:
        return test_split.TestSplit.of(args.params).plan(seed)
    if args.bench == "synthbench":
        _require(args, "clusters")
        heldout = tables.read_table([args.clusters], ["cluster_id", "split", "class_noun"]).to_pylist()
        subjects = sorted({(r["cluster_id"], r["class_noun"]) for r in heldout if r["split"] == "heldout"})
        synthbench = cfg.synthbench
        if args.method.wide:  # the demonstration ablation's subjects (a subject's rows are the same in either plan)
            synthbench = dataclasses.replace(synthbench, subjects=synthbench.demo_subjects)
        return plans.synthbench_plan(subjects, synthbench, seed)
    _require(args, "dreambench_images", "dreambench_prompts")
    photos = tables.read_table([args.dreambench_images], ["subject", "class_noun", "live"]).to_pylist()
    templates = {"object": [], "live": []}
    for row in tables.read_table([args.dreambench_prompts]).to_pylist():
        templates[row["kind"]].append(row["template"])
    subjects = sorted({(r["subject"], r["class_noun"], r["live"]) for r in photos})
    return plans.dreambench_plan(subjects, templates, cfg.dreambench, seed)


def demonstrations(args, rows: list[dict], k: int) -> dict:
    subjects = {r["subject"] for r in rows}
    if args.bench == test_split.BENCH:
        return test_split.TestSplit.of(args.params).demonstrations(k)
    if args.bench == "synthbench":
        return generators.cluster_demonstrations(pq.read_table(args.clusters), subjects, k)
    return generators.dreambench_demonstrations(tables.read_table([args.dreambench_images]).to_pylist(), subjects, k)


def renderer(args, params: dict, cfg: EvaluationConfig, rows: list[dict]):
    """(render(subject rows) -> images, {subject: seconds spent before rendering}: DreamBooth's fine-tuning)."""
    method: Method = args.method
    if method.kind == "experts":
        _require(args, "base", *(["clusters"] if args.bench == "synthbench" else []))
        experts = from_dict(ExpertsSection, params["experts"])
        base = TextToImagePipeline.load(args.base)
        class_of = {r["subject"]: r["class_noun"] for r in rows}
        priors = priors_for(args.priors, sorted(set(class_of.values())), experts.prior_batch)
        with tempfile.TemporaryDirectory() as tmp:
            shard, seconds = generators.train_dreambooth(
                base, demonstrations(args, rows, method.demos), class_of, priors, experts,
                int(params["seed"]), f"{tmp}/experts")
        return generators.dreambooth_renderer(shard, experts.identifier, cfg.sample, cfg.batch_size), seconds
    if method.kind == "suti":
        _require(args, "apprentice")
        pipe = ApprenticePipeline.load(args.apprentice)
        return generators.apprentice_renderer(pipe, demonstrations(args, rows, method.demos), cfg.sample,
                                              cfg.batch_size), {}
    if method.kind == "dreamsuti":
        _require(args, "apprentice")
        class_of = {r["subject"]: r["class_noun"] for r in rows}
        return generators.dream_suti_renderer(
            ApprenticePipeline.load(args.apprentice), demonstrations(args, rows, method.demos), class_of, cfg.sample,
            cfg.dream_suti, int(params["seed"]), cfg.batch_size), {}
    if method.kind == "base":
        _require(args, "base")
        return generators.base_renderer(TextToImagePipeline.load(args.base), cfg.sample, cfg.batch_size), {}
    if args.bench == test_split.BENCH:  # ground truth of the test subjects
        split = test_split.TestSplit.of(params)
        return generators.synthbench_oracle_renderer(split.world_seed, {n: s.subject_id for n, s in
                                                                        split.subjects.items()}, split.resolution), {}
    _require(args, "clusters", "corpus")  # the SynthBench oracle renders ground truth
    ids = generators.page_subject_ids(pq.read_table(args.clusters), args.corpus)
    if ids is None:
        raise SutiError("the SynthBench oracle needs a corpus with ground truth (this one has none)")
    return generators.synthbench_oracle_renderer(int(params["seed"]), ids, int(params["world"]["resolution"])), {}


def replicate(params: dict) -> int:
    """The training replicate whose models this job evaluates (config `replicates`; its params carry it from 1 on)."""
    return int(params.get("replicate", 0))


def run(args) -> None:
    seed, cfg, method = int(args.params["seed"]), from_dict(EvaluationConfig, args.params["evaluation"]), args.method
    if args.bench == "dreambench" and method.kind == "oracle":
        _require(args, "dreambench_images")
        photos = tables.read_table([args.dreambench_images]).to_pylist()
        names = sorted({p["subject"] for p in photos})[:cfg.dreambench.subjects]  # the subjects methods are run on
        rows = generators.dreambench_oracle_rows([p for p in photos if p["subject"] in names])
        rows = [dict(r, method="oracle", demos=0, tau="", subset="", replicate=0, seconds=0.0) for r in rows]
    else:
        rows = plan_rows(args, cfg, seed)
        with progress(len(rows), f"generate_eval {args.bench}/{method.name}") as bar:
            render, setup_seconds = renderer(args, args.params, cfg, rows)
            images, seconds = generators.generate(rows, render, bar)
        rows = [dict(r, method=method.kind, demos=method.demos, tau=method.tau, subset=method.subset,
                     replicate=replicate(args.params),
                     reference=-1, image=encode_png(im),
                     seconds=seconds[r["subject"]] + setup_seconds.get(r["subject"], 0.0))
                for r, im in zip(rows, images)]
    io.write_parquet(tables.from_rows(rows, tables.EVAL_GENERATIONS), args.out)
    shown = [decode_image(r["image"]) for r in rows[:64]]
    scale = max(1, 64 // shown[0].shape[0]) if shown else 1
    save_png(grid(shown, cols=8, scale=scale) if shown else np.zeros((8, 8, 3), np.uint8), args.grid)
    per_subject = {r["subject"]: r["seconds"] for r in rows}
    summary = {"bench": args.bench, "method": method.name, "images": len(rows), "subjects": len(per_subject),
               "seconds_per_subject": float(np.mean(list(per_subject.values()))) if per_subject else None}
    log.info("%s/%s: %d images", args.bench, method.name, len(rows))
    write_summary(summary, args.summary, figures=(args.grid,))
