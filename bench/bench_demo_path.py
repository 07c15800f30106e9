"""What each demonstration path costs (`apprentice.demo_path`, `apprentice.map_encoder`), side by side in one process:
seconds per in-context pretraining step (the released apprentice's batch, K uniform in 1..max_demos) and seconds per
subject to render the evaluation plan's images, at the default config's sizes on the released base model and CLIP.

Paths: clip (today's: CLIP tokens and FiLM), unet with the shared encoder (the UNet's own down path, Re-Imagen's),
unet with the light encoder (`models.unet.ReferenceEncoder`), and both of each. Compilation is excluded (each path
runs warm-up steps first); the variants are interleaved over `--repeats` rounds so a busy machine slows them alike.
Keys pooled at each of `--key-sides` (`apprentice.map_key_side`, 0 = the maps' full side) for the map paths.
Run: `python bench/bench_demo_path.py [--steps 10 --repeats 3 --key-sides 0 8]`; writes bench/out/demo_path.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import numpy as np

from suti import io
from suti.apprentice.config import ApprenticeConfig
from suti.apprentice.pipeline import ApprenticePipeline
from suti.apprentice.training import ApprenticeData, apprentice_batch, fresh_apprentice, make_apprentice_loss
from suti.config import default_config, from_dict
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import get_schedule
from suti.evaluation import plans
from suti.evaluation.config import EvaluationConfig
from suti.pretrain.config import PretrainConfig
from suti.scoring.clip import ClipSpec
from suti.training.optim import make_optimizer
from suti.training.state import create_train_state, make_train_step

VARIANTS = (("clip", "shared"), ("unet", "shared"), ("unet", "light"), ("both", "shared"), ("both", "light"))


def variant_name(path: str, encoder: str) -> str:
    return path if path == "clip" else f"{path}/{encoder}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=10, help="timed training steps per path and round")
    p.add_argument("--subjects", type=int, default=1, help="timed subjects per path and round")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    p.add_argument("--map-resolutions", type=int, nargs="+", help="apprentice.map_resolutions (default: the config's)")
    p.add_argument("--key-sides", type=int, nargs="+",
                   help="apprentice.map_key_side values to time for the map paths (default: the config's)")
    p.add_argument("--paths", nargs="+", default=[variant_name(*v) for v in VARIANTS], help="paths to time")
    p.add_argument("--out", default="bench/out/demo_path.json")
    args = p.parse_args()
    config = default_config(overlays=("config/pretrain.yaml",))  # the pretraining budget: its batch
    train = from_dict(PretrainConfig, config["pretrain"]).apprentice.train
    evaluation = from_dict(EvaluationConfig, config["evaluation"])
    k, res = int(config["apprentice"]["demos"]), int(config["world"]["resolution"])
    rng = np.random.default_rng(0)
    rows = plans.synthbench_plan([("s", "mug")], dataclasses.replace(evaluation.synthbench, subjects=None), 0)
    runs = {}
    if args.map_resolutions:
        config["apprentice"]["map_resolutions"] = args.map_resolutions
    key_sides = args.key_sides or [int(config["apprentice"]["map_key_side"])]
    variants = [(path, encoder, ks) for path, encoder in VARIANTS if variant_name(path, encoder) in args.paths
                for ks in (key_sides if path != "clip" else [0])]
    for path, encoder, key_side in variants:
        name = variant_name(path, encoder) + (f" keys{key_side}" if path != "clip" else "")
        cfg = from_dict(ApprenticeConfig, {**config["apprentice"], "demo_path": path, "map_encoder": encoder,
                                           "map_key_side": key_side})
        base, demo_encoder, graphdef, params = fresh_apprentice("pretrained/base", cfg, ClipSpec(), "pretrained/clip",
                                                                0)
        images = rng.integers(0, 255, (64, res, res, 3), dtype=np.uint8)
        features = demo_encoder(images)
        data = ApprenticeData(images=images, tokens=base.tokenizer.encode(["a photo of a mug"] * 64),
                              subject=np.arange(64) // 8, demos=[features[i:i + 8] for i in range(0, 64, 8)],
                              class_nouns=["mug"] * 8, own_demo=np.arange(64) % 8)
        loss_fn = make_apprentice_loss(graphdef, get_schedule(base.diffusion_cfg.schedule,
                                                              base.diffusion_cfg.num_steps),
                                       Prediction(base.diffusion_cfg.prediction), train.cond_drop,
                                       np.asarray(base.tokenizer.encode([""])[0]), train.min_snr_gamma)
        tx = make_optimizer(train)
        step = make_train_step(loss_fn, tx, train.ema_decay)
        state = create_train_state(jax.tree.map(np.array, params), tx)
        pipe = ApprenticePipeline(graphdef, params, base.tokenizer, base.model_cfg, base.diffusion_cfg, cfg.max_demos,
                                  demo_encoder, demo_path=path, map_encoder=encoder)
        demos, mask = pipe.demo_arrays(list(images[:k]))
        n = len(rows)
        runs[name] = {
            "state": state, "step": step, "pipe": pipe, "data": data, "max_demos": cfg.max_demos,
            "sample": lambda pipe=pipe, demos=demos, mask=mask, n=n: pipe.sample(
                [r["prompt"] for r in rows], np.repeat(demos[None], n, 0), np.repeat(mask[None], n, 0),
                np.array([r["seed"] for r in rows]), evaluation.sample, evaluation.batch_size),
            "params": sum(x.size for x in jax.tree.leaves(params)), "train_s": [], "subject_s": []}

    def train_steps(run, count: int, first: int) -> float:
        began = time.perf_counter()
        for i in range(first, first + count):
            batch = apprentice_batch(run["data"], run["max_demos"], train.batch_size, 0, i)
            run["state"], metrics = run["step"](run["state"], batch, jax.random.key(i))
        jax.block_until_ready(metrics["loss"])
        return (time.perf_counter() - began) / count

    for run in runs.values():  # warm-up: compile the step and the sampler
        train_steps(run, 2, 0)
        run["sample"]()
    for r in range(args.repeats):
        for name, run in runs.items():
            run["train_s"].append(train_steps(run, args.steps, 2 + r * args.steps))
            began = time.perf_counter()
            for _ in range(args.subjects):
                run["sample"]()
            run["subject_s"].append((time.perf_counter() - began) / args.subjects)
    clip = runs["clip"]
    out = {"config": {"batch_size": train.batch_size, "max_demos": int(config["apprentice"]["max_demos"]),
                      "map_resolutions": list(config["apprentice"]["map_resolutions"]), "demos": k,
                      "key_sides": key_sides,
                      "images_per_subject": len(rows), "sampler_steps": evaluation.sample.steps,
                      "guidance": evaluation.sample.guidance, "repeats": args.repeats, "steps": args.steps},
           "paths": {}}
    print(f"{'path':20s} {'params':>9s} {'s/train step':>13s} {'x clip':>7s} {'s/subject':>10s} {'x clip':>7s}")
    for name, run in runs.items():
        train_s, subject_s = float(np.median(run["train_s"])), float(np.median(run["subject_s"]))
        row = {"params": int(run["params"]), "seconds_per_train_step": train_s, "seconds_per_subject": subject_s,
               "train_ratio_to_clip": train_s / float(np.median(clip["train_s"])),
               "subject_ratio_to_clip": subject_s / float(np.median(clip["subject_s"]))}
        out["paths"][name] = row
        print(f"{name:20s} {row['params']:9d} {train_s:13.3f} {row['train_ratio_to_clip']:7.2f} {subject_s:10.3f} "
              f"{row['subject_ratio_to_clip']:7.2f}")
    io.write_json(out, args.out)


if __name__ == "__main__":
    main()
