"""`suti train-apprentice`: the apprentice trained on one tau's filtered expert samples, from the base model."""

from __future__ import annotations

import shutil
import time

import numpy as np

from suti.apprentice.config import ApprenticeConfig
from suti.apprentice.pipeline import ApprenticePipeline, generate
from suti.apprentice.training import ApprenticeData, init_apprentice, train_apprentice
from suti.config import from_dict
from suti.data import tables
from suti.data.images import decode_image, grid, save_png
from suti.diffusion.config import SampleConfig
from suti.errors import SutiError
from suti.models.pipeline import TextToImagePipeline
from suti.stages.common import add_params_argument, log, write_summary
from suti.training.checkpoints import Checkpointer, export_model
from suti.training.fingerprint import fingerprint, resumable_dir
from suti.world import prompts

HELP = "train the apprentice on one tau's filtered expert samples"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--tau", required=True, help='the filter threshold of the training set ("none": no filter)')
    p.add_argument("--samples", required=True, help="filtered expert samples (suti filter-samples)")
    p.add_argument("--clusters", required=True, help="mined clusters (the subjects' demonstrations)")
    p.add_argument("--base", required=True, help="exported base model (the starting point)")
    p.add_argument("--model", required=True, help="output directory of the exported apprentice (EMA weights)")
    p.add_argument("--summary", required=True, help="output JSON summary")
    p.add_argument("--samples-grid", required=True, help="output PNG: demonstrations and generations")


def tracking_tags(args) -> dict:
    return {"tau": args.tau}


def load_data(samples_path, clusters_path, tokenizer) -> ApprenticeData:
    """Targets from the kept samples (prompts with the class noun only), demonstrations from the clusters."""
    rows = tables.read_table([samples_path], ["subject", "class_noun", "prompt_id", "image"]).to_pylist()
    if not rows:
        raise SutiError(f"{samples_path}: no kept expert samples to learn from; lower the filter's tau")
    subjects = sorted({r["subject"] for r in rows})
    index = {s: i for i, s in enumerate(subjects)}
    pools: dict[str, list] = {s: [] for s in subjects}
    for r in tables.read_table([clusters_path], ["cluster_id", "image", "caption"]).to_pylist():
        if r["cluster_id"] in pools:
            pools[r["cluster_id"]].append((decode_image(r["image"]), r["caption"]))
    by_id = {p.prompt_id: p for p in prompts.PROMPTS}
    return ApprenticeData(
        images=np.stack([decode_image(r["image"]) for r in rows]),
        tokens=tokenizer.encode([by_id[r["prompt_id"]].format(r["class_noun"]) for r in rows]),
        subject=np.array([index[r["subject"]] for r in rows]),
        demos=[np.stack([im for im, _ in pools[s]]) for s in subjects],
        demo_tokens=[tokenizer.encode([c for _, c in pools[s]]) for s in subjects],
        class_nouns=[next(r["class_noun"] for r in rows if r["subject"] == s) for s in subjects])


def preview(pipe: ApprenticePipeline, data: ApprenticeData, seed: int, cfg: SampleConfig, n: int = 4) -> np.ndarray:
    """Per training subject (up to 4): 3 demonstrations, then generations for 3 prompt categories."""
    cells = []
    chosen = [p for p in prompts.PROMPTS if p.prompt_id in ("p00", "p09", "p15")]
    for s in range(min(n, len(data.demos))):
        demos, cls = list(data.demos[s][:3]), data.class_nouns[s]
        images = [generate(pipe, demos, cls, t.format(cls), 1, seed, cfg)[0] for t in chosen]
        cells += demos + [np.full_like(demos[0], 255)] * (3 - len(demos)) + images
    return grid(cells, cols=6, scale=2)


def run(args) -> None:
    seed = int(args.params["seed"])
    cfg = from_dict(ApprenticeConfig, args.params["apprentice"])
    base = TextToImagePipeline.load(args.base)
    data = load_data(args.samples, args.clusters, base.tokenizer)
    log.info("apprentice (tau %s): %d targets of %d subjects", args.tau, len(data.images), len(data.demos))
    graphdef, params = init_apprentice(base, cfg.max_demos, seed)
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params, args.samples, args.base))
    start = time.perf_counter()
    state, history = train_apprentice(graphdef, params, data, base.tokenizer.encode([""])[0], base.diffusion_cfg,
                                      cfg.train, cfg.max_demos, seed, Checkpointer(work))
    seconds = time.perf_counter() - start
    export_model(args.model, state["ema"], {"model": base.model_cfg, "diffusion": base.diffusion_cfg,
                                             "tokenizer": base.tokenizer.to_json(),
                                             "apprentice": {"max_demos": cfg.max_demos, "tau": args.tau,
                                                            "targets": len(data.images),
                                                            "subjects": len(data.demos)}})
    shutil.rmtree(work)
    pipe = ApprenticePipeline.load(args.model)  # the exported weights
    save_png(preview(pipe, data, seed, cfg.sample), args.samples_grid)
    write_summary(dict(tau=args.tau, targets=len(data.images), subjects=len(data.demos), steps=cfg.train.steps,
                       train_seconds=seconds, final_loss=history[-1]["loss"],
                       examples_per_s=float(np.mean([h["examples_per_s"] for h in history[1:]] or [0])),
                       loss_curve=history), args.summary, figures=(args.samples_grid,))
