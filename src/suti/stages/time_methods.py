"""`suti time-methods`: the speed comparison. DreamBooth and the main apprentice on the first few subjects of the test
split (its curated demonstrations, its plan's images), in one process, interleaved and repeated, compilation
excluded for both (`suti.evaluation.timing`). The speed target reads this table, so evaluation jobs need not run
alone."""

from __future__ import annotations

import tempfile

import numpy as np
import pyarrow as pa

from suti import io
from suti.apprentice.pipeline import ApprenticePipeline
from suti.config import from_dict
from suti.errors import SutiError
from suti.evaluation import test_split, timing
from suti.evaluation.config import EvaluationConfig
from suti.evaluation.methods import Method, main_apprentice
from suti.experts.config import ExpertsSection
from suti.experts.priors import priors_for
from suti.models.pipeline import TextToImagePipeline
from suti.stages.common import add_params_argument, log, progress, write_summary

HELP = "time DreamBooth and the apprentice on the same subjects, interleaved and repeated, in one process"

SCHEMA = pa.schema([("bench", pa.string()), ("method", pa.string()), ("tau", pa.string()), ("demos", pa.int32()),
                    ("subset", pa.string()), ("subject", pa.string()), ("replicate", pa.int32()),
                    ("prompt_id", pa.string()), ("seed", pa.int64()), ("images", pa.int32()),
                    ("seconds", pa.float64())])


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--base", required=True, help="exported base model (DreamBooth fine-tunes it)")
    p.add_argument("--apprentice", required=True, help="the main apprentice (exported)")
    p.add_argument("--priors", help="class-prior images (DreamBooth's prior preservation)")
    p.add_argument("--out", required=True, help="output parquet: one row per (method, subject, repeat)")
    p.add_argument("--summary", required=True, help="output JSON: mean seconds per subject of each method (and its "
                                                    "one-row parquet beside it: not the --out path)")


def run(args) -> None:
    params, seed = args.params, int(args.params["seed"])
    cfg = from_dict(EvaluationConfig, params["evaluation"])
    k = int(params["apprentice"]["demos"])
    split = test_split.TestSplit.of(params, first=cfg.timing.subjects)
    subjects, rows = split.subjects, split.plan(seed)
    by_subject = {n: [r for r in rows if r["subject"] == n] for n in subjects}
    demos = split.demonstrations(k)
    class_of = {n: s.cls for n, s in subjects.items()}
    experts = from_dict(ExpertsSection, params["experts"])
    dreambooth = Method("experts", "", k)
    apprentice = Method("suti", main_apprentice(params["apprentice"]), k)
    with tempfile.TemporaryDirectory() as tmp:
        timers = {
            dreambooth.name: timing.DreamBoothTimer(
                TextToImagePipeline.load(args.base), demos, class_of,
                priors_for(args.priors, sorted(set(class_of.values())), experts.prior_batch), experts, cfg.sample,
                cfg.batch_size, seed, f"{tmp}/experts"),
            apprentice.name: timing.apprentice_timer(ApprenticePipeline.load(args.apprentice), demos, cfg.sample,
                                                     cfg.batch_size)}
        with progress(len(timers) * len(subjects) * cfg.timing.repeats, "time_methods") as bar:
            timed = timing.time_methods(timers, by_subject, cfg.timing.repeats, bar)
    methods = {dreambooth.name: dreambooth, apprentice.name: apprentice}
    out = [dict(bench=timing.BENCH, method=methods[t["method"]].kind, tau=methods[t["method"]].tau, demos=k,
                subset="", subject=t["subject"], replicate=t["repeat"], prompt_id="", seed=0,
                images=len(by_subject[t["subject"]]), seconds=t["seconds"]) for t in timed]
    if args.summary.rsplit(".", 1)[0] + ".parquet" == args.out:
        raise SutiError(f"time-methods: --summary {args.summary} would write its table over --out {args.out}")
    io.write_parquet(pa.Table.from_pylist(out, schema=SCHEMA), args.out)
    means = {name: float(np.mean([t["seconds"] for t in timed if t["method"] == name])) for name in methods}
    log.info("seconds per subject: %s", means)
    write_summary({"seconds_per_subject": means, "ratio": means[dreambooth.name] / means[apprentice.name],
                   "subjects": len(subjects), "repeats": cfg.timing.repeats,
                   "images_per_subject": len(rows) // max(len(subjects), 1)}, args.summary)
