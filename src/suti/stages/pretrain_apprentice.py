"""`suti pretrain-apprentice`: the in-context apprentice (SynthBench's Re-Imagen) pretrained from the base model on a
pool of stream identities (`suti.pretrain.apprentice`), with the pretrained CLIP as its demonstration encoder, and its
in-context quality on held-out stream identities read by the probe."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from suti.apprentice.config import ApprenticeConfig
from suti.apprentice.pipeline import ApprenticePipeline
from suti.apprentice.training import fresh_apprentice, graft, train_apprentice
from suti.config import from_dict
from suti.data.images import save_png
from suti.models.t2i import param_counts
from suti.pretrain import apprentice as pretrain_apprentice
from suti.pretrain import release
from suti.pretrain.config import PretrainConfig
from suti.scoring.clip import ClipSpec
from suti.scoring.probe import load_probe
from suti.stages.common import add_params_argument, log, write_summary
from suti.training.checkpoints import Checkpointer, export_model
from suti.training.fingerprint import fingerprint, resumable_dir

HELP = "pretrain the in-context apprentice (SynthBench's Re-Imagen) on stream identities"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--base", required=True, help="the pretrained base model it starts from (exported folder)")
    p.add_argument("--clip", required=True, help="the pretrained small CLIP: its demonstration encoder")
    p.add_argument("--probe", required=True, help="the pretrained probe that reads its in-context quality")
    p.add_argument("--init-from", help="an exported apprentice to continue (pretrain.apprentice.init_from)")
    p.add_argument("--model", required=True, help="output directory of the exported apprentice (EMA weights)")
    p.add_argument("--summary", required=True, help="output JSON: in-context quality and training figures")
    p.add_argument("--samples", required=True, help="output PNG: held-out identities' demonstrations, generations")


def run(args) -> None:
    resolution = int(args.params["world"]["resolution"])
    pre = from_dict(PretrainConfig, args.params["pretrain"])
    budget, cfg = pre.apprentice, from_dict(ApprenticeConfig, args.params["apprentice"])
    heldout_combos = [tuple(c) for c in args.params["base"]["heldout_combos"]]
    base, encoder, graphdef, params = fresh_apprentice(args.base, cfg, ClipSpec(), args.clip, pre.seed)
    earlier = {}
    if args.init_from:
        params, grafted, kept = graft(params, ApprenticePipeline.load(args.init_from).params)
        log.info("pretrain_apprentice: continues %s (%d weights from it, %d new)", args.init_from, grafted, kept)
        earlier = continued_from(args.init_from)
    pool = pretrain_apprentice.render_pool(budget.identities, budget.images_per_identity, pre.seed, resolution,
                                           heldout_combos)
    data = pretrain_apprentice.pool_data(pool, base.tokenizer, encoder)
    log.info("pretrain_apprentice: %d images of %d stream identities", len(data.images), len(data.demos))
    work = resumable_dir(f"{args.model}.partial",
                         fingerprint(args.params, args.base, args.clip, *([args.init_from] if args.init_from else [])))
    commit = release.training_commit(work)  # the code that started it, kept across resumes
    began = time.perf_counter()
    state, history = train_apprentice(graphdef, params, data, base.tokenizer.encode([""])[0], base.diffusion_cfg,
                                      budget.train, cfg.max_demos, pre.seed, Checkpointer(work),
                                      desc="pretrain_apprentice", phase="clusters")
    seconds = time.perf_counter() - began  # this leg's (a resumed run's earlier legs are not counted)
    meta = {"max_demos": cfg.max_demos, "demo_dim": encoder.dim, "demo_patch": cfg.demo_patch,
            "demo_path": cfg.demo_path, "map_encoder": cfg.map_encoder, "demo_encoder": encoder.id,
            "phase": "pretrain", "tau": "", "init": str(args.init_from or args.base),
            "targets": len(data.images), "subjects": len(data.demos)}
    export_model(args.model, state["ema"], {"model": base.model_cfg, "diffusion": base.diffusion_cfg,
                                             "tokenizer": base.tokenizer.to_json(), "apprentice": meta},
                 write_extra=encoder.save)
    shutil.rmtree(work)
    pipe = ApprenticePipeline.load(args.model)  # the exported weights
    quality, rows = pretrain_apprentice.in_context_quality(pipe, load_probe(args.probe)[:2], pre.seed, resolution,
                                                           budget.sample, budget.eval_identities,
                                                           heldout_combos=heldout_combos)
    log.info("in-context quality on %d held-out identities: %s", budget.eval_identities, quality["in_context"])
    save_png(pretrain_apprentice.preview(rows), args.samples)
    n_params, n_frozen = param_counts(pipe.params)
    seen = budget.train.steps * budget.train.batch_size + int(earlier.get("images_seen", 0))
    write_summary(dict(quality, git_commit=commit, images_seen=seen, **({"continued_from": earlier} if earlier else {}),
                       pool_images=len(data.images), pool_identities=len(data.demos), params=n_params,
                       frozen_params=n_frozen, steps=budget.train.steps, train_seconds=seconds,
                       hardware=release.hardware(), loss_curve=history), args.summary, figures=(args.samples,))


def continued_from(folder: str) -> dict:
    """What a continued apprentice started from: the released apprentice's provenance figures (images seen and wall
    time over its legs, hardware, commits, in-context quality), or only its folder where it has no provenance."""
    path = Path(folder) / "provenance.json"
    if not path.exists():
        return {"folder": str(folder)}
    record = json.loads(path.read_text())
    keep = ("git_commit", "release_commit", "config_hash", "continued_from", "hardware")
    return {"folder": str(folder), "images_seen": int(record["images_seen"]), "wall_seconds": record["wall_seconds"],
            **{k: record[k] for k in keep if k in record},
            "demo_path": record["architecture"].get("demo_path", "clip"),
            "quality": {k: v for k, v in record["quality"].items() if k in ("in_context", "in_context_identity")}}
