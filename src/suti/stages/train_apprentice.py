"""`suti train-apprentice`: the apprentice's training phases.

- `--phase clusters`: in-context training on the mined training clusters (Re-Imagen's recipe), from `--init`: the
  released in-context apprentice (`apprentice.init: pretrained`) or the base model: demonstrations are images of
  one cluster, the target another image of it under its own caption.
- `--phase experts`: imitation of one tau's filtered expert samples, from `--init`: the clusters-trained
  apprentice (then `apprentice.cluster_replay` of each batch may come from the clusters), or the base model itself
  (the "experts only" ablation).
- `--phase distill`: guidance distillation (`apprentice.distill`) of the trained apprentice `--init` on the same
  samples: a student that renders in one network pass per sampler step what `--init` renders with guidance in two.
"""

from __future__ import annotations

import shutil
import time

import numpy as np

from suti.apprentice.config import ApprenticeConfig
from suti.apprentice.encoder import DemoEncoder
from suti.apprentice.pipeline import ApprenticePipeline, generate
from suti.apprentice.training import (
    ApprenticeData,
    cluster_data,
    distill_apprentice,
    fresh_apprentice,
    train_apprentice,
)
from suti.config import from_dict
from suti.data import tables
from suti.data.images import decode_image, grid, save_png
from suti.diffusion.config import SampleConfig
from suti.errors import SutiError
from suti.models.inference import Export
from suti.scoring.clip import ClipSpec
from suti.stages.common import add_params_argument, log, write_summary
from suti.training.checkpoints import Checkpointer, export_model
from suti.training.fingerprint import fingerprint, resumable_dir
from suti.world import prompts

HELP = ("train the apprentice: in-context pretraining on the clusters, imitation of one tau's expert samples, or "
        "distillation of its guidance")


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--phase", required=True, choices=("clusters", "experts", "distill"),
                   help="clusters: in-context pretraining on the mined clusters; experts: imitate expert samples; "
                        "distill: distil the guidance of the apprentice --init")
    p.add_argument("--tau", default="", help='experts, distill: the filter threshold of the training set ("none")')
    p.add_argument("--samples", help="experts, distill: filtered expert samples (suti filter-samples)")
    p.add_argument("--clusters", required=True, help="mined clusters (demonstrations; the clusters phase's targets)")
    p.add_argument("--init", required=True,
                   help="the starting point: an exported base model, or (experts, distill) an exported apprentice")
    p.add_argument("--scorer", help="the trained small CLIP (when scoring.clip.model is empty): the demonstrations' "
                                    "encoder of an apprentice started from the base model")
    p.add_argument("--model", required=True, help="output directory of the exported apprentice (EMA weights)")
    p.add_argument("--summary", required=True, help="output JSON summary")
    p.add_argument("--samples-grid", required=True, help="output PNG: demonstrations and generations")


def tracking_tags(args) -> dict:
    return {"phase": args.phase, "tau": args.tau}


def read_pools(clusters_path, split: str) -> dict[str, list[dict]]:
    """{cluster_id: its rows (image, caption, class_noun), by image id} of one split of the mined clusters."""
    pools: dict[str, list[dict]] = {}
    rows = tables.read_table([clusters_path], ["cluster_id", "split", "class_noun", "image_id", "image",
                                               "caption"]).to_pylist()
    for r in sorted(rows, key=lambda r: (r["cluster_id"], r["image_id"])):
        if r["split"] == split:
            pools.setdefault(r["cluster_id"], []).append(r)
    return pools


def load_cluster_data(clusters_path, tokenizer, encoder: DemoEncoder) -> ApprenticeData:
    """Every training-split cluster image a target under its own caption; the rest of its cluster, demonstrations."""
    pools = read_pools(clusters_path, "train")
    rows = [r for members in pools.values() for r in members]
    if not rows:
        raise SutiError(f"{clusters_path}: no training clusters to pretrain the apprentice on")
    index = {c: i for i, c in enumerate(pools)}
    images = np.stack([decode_image(r["image"]) for r in rows])
    return cluster_data(images, tokenizer.encode([r["caption"] for r in rows]),
                        np.array([index[r["cluster_id"]] for r in rows]), encoder(images),
                        [members[0]["class_noun"] for members in pools.values()])


def load_expert_data(samples_path, clusters_path, tokenizer, encoder: DemoEncoder) -> ApprenticeData:
    """Targets from the kept samples (prompts with the class noun only), demonstrations from the clusters."""
    rows = tables.read_table([samples_path], ["subject", "class_noun", "prompt_id", "image"]).to_pylist()
    if not rows:
        raise SutiError(f"{samples_path}: no kept expert samples to learn from; lower the filter's tau")
    subjects = sorted({r["subject"] for r in rows})
    index = {s: i for i, s in enumerate(subjects)}
    pools = read_pools(clusters_path, "train")
    missing = [s for s in subjects if s not in pools]
    if missing:
        raise SutiError(f"{samples_path}: subjects {missing[:3]} have no training cluster in {clusters_path}")
    demo_images = [np.stack([decode_image(r["image"]) for r in pools[s]]) for s in subjects]
    by_id = {p.prompt_id: p for p in prompts.PROMPTS}
    return ApprenticeData(
        images=np.stack([decode_image(r["image"]) for r in rows]),
        tokens=tokenizer.encode([by_id[r["prompt_id"]].format(r["class_noun"]) for r in rows]),
        subject=np.array([index[r["subject"]] for r in rows]),
        demos=[encoder(images) for images in demo_images],
        class_nouns=[next(r["class_noun"] for r in rows if r["subject"] == s) for s in subjects],
        demo_images=demo_images)


def start(args, cfg: ApprenticeConfig, seed: int):
    """(graphdef, params, tokenizer, model_cfg, diffusion_cfg, encoder) of the starting point `--init`."""
    meta = Export.read(args.init, "model").meta
    if "apprentice" in meta:
        if args.phase == "clusters" and meta["apprentice"].get("phase") not in ("clusters", "pretrain"):
            raise SutiError(f"--init {args.init} is an apprentice that imitated experts; the clusters phase starts "
                            "from the base model or an in-context pretrained apprentice (pretrained/apprentice)")
        pipe = ApprenticePipeline.load(args.init)
        if pipe.distilled_guidance is not None:
            raise SutiError(f"--init {args.init} is guidance-distilled (it has no null condition left to train); "
                            "start from the apprentice it was distilled from")
        if pipe.max_demos != cfg.max_demos:
            raise SutiError(f"--init {args.init} takes {pipe.max_demos} demonstrations; apprentice.max_demos is "
                            f"{cfg.max_demos}")
        if pipe.demo_patch != cfg.demo_patch:
            raise SutiError(f"--init {args.init} reads demonstration patches of {pipe.demo_patch} px; "
                            f"apprentice.demo_patch is {cfg.demo_patch}")
        if pipe.demo_path != cfg.demo_path or (cfg.demo_path != "clip" and pipe.map_encoder != cfg.map_encoder):
            raise SutiError(f"--init {args.init} reads demonstrations by path {pipe.demo_path} (map encoder "
                            f"{pipe.map_encoder}); apprentice.demo_path is {cfg.demo_path} (map_encoder "
                            f"{cfg.map_encoder}): start from an apprentice of this path or from the base model")
        unet, maps = pipe.model_cfg.unet, set(cfg.map_resolutions if cfg.demo_path != "clip" else ())
        if maps != set(unet.reference_resolutions) or (maps and unet.reference_key_side != cfg.map_key_side):
            raise SutiError(f"--init {args.init} reads demonstration feature maps at sides "
                            f"{sorted(unet.reference_resolutions)} with keys pooled to {unet.reference_key_side}; "
                            f"apprentice.map_resolutions is {sorted(maps)}, map_key_side {cfg.map_key_side}")
        missing = sorted(set(cfg.cross_attention_resolutions) - set(pipe.model_cfg.unet.cross_attention_resolutions))
        if missing:
            raise SutiError(f"--init {args.init} has no cross-attention at sides {missing} "
                            "(apprentice.cross_attention_resolutions); retrain its clusters phase")
        return pipe.graphdef, pipe.params, pipe.tokenizer, pipe.model_cfg, pipe.diffusion_cfg, pipe.encoder
    if args.phase == "distill":
        raise SutiError(f"--phase distill distils a trained apprentice; --init {args.init} is a base model")
    base, encoder, graphdef, params = fresh_apprentice(args.init, cfg, ClipSpec(**args.params["scoring"]["clip"]),
                                                       args.scorer, seed)
    return graphdef, params, base.tokenizer, base.model_cfg, base.diffusion_cfg, encoder


def replay_share(args, cfg: ApprenticeConfig) -> float:
    """The raw clusters' share of each batch (`apprentice.cluster_replay`): an imitation started from an in-context
    trained apprentice replays them; the experts-only ablation (from the base model) never sees them; a distillation
    replays what its teacher's imitation did."""
    if args.phase == "clusters":
        return 0.0
    teacher = Export.read(args.init, "model").meta.get("apprentice")
    if teacher is None:
        return 0.0
    return float(teacher.get("cluster_replay", 0.0)) if args.phase == "distill" else cfg.cluster_replay


def preview(pipe: ApprenticePipeline, data: ApprenticeData, seed: int, cfg: SampleConfig, n: int = 4) -> np.ndarray:
    """Per training subject (up to 4): 3 demonstrations, then generations for 3 prompt categories."""
    cells = []
    chosen = [p for p in prompts.PROMPTS if p.prompt_id in ("p00", "p09", "p15")]
    for s in range(min(n, len(data.demos))):
        demos, cls = list(data.demo_images[s][:3]), data.class_nouns[s]
        images = [generate(pipe, demos, cls, t.format(cls), 1, seed, cfg)[0] for t in chosen]
        cells += demos + [np.full_like(demos[0], 255)] * (3 - len(demos)) + images
    return grid(cells, cols=6, scale=2)


def run(args) -> None:
    seed = int(args.params["seed"])
    cfg = from_dict(ApprenticeConfig, args.params["apprentice"])
    if args.phase != "clusters" and not args.samples:
        raise SutiError(f"--phase {args.phase} needs --samples (the filtered expert samples)")
    if args.phase == "distill" and cfg.distill.steps == 0:
        raise SutiError("--phase distill: apprentice.distill.steps is 0 (no distillation asked for)")
    graphdef, params, tokenizer, model_cfg, diffusion_cfg, encoder = start(args, cfg, seed)
    if args.phase == "clusters":
        data, train_cfg = load_cluster_data(args.clusters, tokenizer, encoder), cfg.clusters
    else:
        data = load_expert_data(args.samples, args.clusters, tokenizer, encoder)
        train_cfg = cfg.distill if args.phase == "distill" else cfg.train
    share = replay_share(args, cfg)
    replay = load_cluster_data(args.clusters, tokenizer, encoder) if share > 0 else None
    if replay is not None:
        log.info("replay: %.0f%% of each batch from %d cluster images", 100 * share, len(replay.images))
    log.info("apprentice (%s%s): %d targets of %d subjects", args.phase, f", tau {args.tau}" if args.tau else "",
             len(data.images), len(data.demos))
    inputs = [args.init] + ([args.samples] if args.samples else []) + [args.clusters]
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params, *inputs))
    began = time.perf_counter()
    null, desc = tokenizer.encode([""])[0], f"train_apprentice {args.phase}"
    if args.phase == "distill":
        state, history = distill_apprentice(graphdef, params, data, null, diffusion_cfg, train_cfg, cfg.max_demos,
                                            seed, Checkpointer(work), desc=desc, replay=replay,
                                            replay_share=share)
    else:
        state, history = train_apprentice(graphdef, params, data, null, diffusion_cfg, train_cfg, cfg.max_demos,
                                          seed, Checkpointer(work), desc=desc, phase=args.phase, replay=replay,
                                          replay_share=share)
    seconds = time.perf_counter() - began
    meta = {"max_demos": cfg.max_demos, "demo_dim": encoder.dim, "demo_patch": cfg.demo_patch,
            "demo_path": cfg.demo_path, "map_encoder": cfg.map_encoder, "cluster_replay": share,
            "demo_encoder": encoder.id, "phase": args.phase,
            "tau": args.tau, "init": str(args.init), "targets": len(data.images), "subjects": len(data.demos)}
    if args.phase == "distill":
        meta["distilled_guidance"] = cfg.distill.guidance
    export_model(args.model, state["ema"], {"model": model_cfg, "diffusion": diffusion_cfg,
                                             "tokenizer": tokenizer.to_json(), "apprentice": meta},
                 write_extra=encoder.save)
    shutil.rmtree(work)
    pipe = ApprenticePipeline.load(args.model)  # the exported weights
    save_png(preview(pipe, data, seed, cfg.sample), args.samples_grid)
    write_summary(dict(meta, steps=train_cfg.steps, train_seconds=seconds, final_loss=history[-1]["loss"],
                       examples_per_s=float(np.mean([h["examples_per_s"] for h in history[1:]] or [0])),
                       loss_curve=history), args.summary, figures=(args.samples_grid,))
