"""Base-model ablation sweep: train variants of the default config's base model on the same mined train split, at
the same budget, and read their samples with the probe (the base-model measure: prompted class / colour / background).

Each variant is a name followed by `key=value` overrides of the `base` config section (dotted keys, YAML values):

    python bench/base_sweep.py default \
        learned-text model.text_encoder=learned \
        no-min-snr train.min_snr_gamma=0 \
        long-clip text_tower=other_run/results/scorer/model

It reads the mined clusters, the trained probe and the small CLIP (the frozen text tower of `text_encoder: clip`) of
a finished run (`--results`, default `results/`: `snakemake results/mining/clusters.parquet results/probe/model
results/scorer/model` makes them), so every variant sees the same data and is read by the same probe. On a CPU a
variant takes as long as `train_base` (~4-5 min); on an H100 ~50 s, so a lent accelerator sweeps a dozen variants
at the CPU budget in one call. Writes $OUT (or bench/out/) base_sweep.jsonl, one row per
variant, and base_sweep-<name>-g<guidance>.png, the held-out prompts' samples (rows: prompts, 4 samples each).
Run it from the repository root (it reads config/config.yaml); put `--` before the variants after `--guidance`.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os

import jax
import numpy as np
import pyarrow.parquet as pq
import yaml

from suti.config import default_config, from_dict
from suti.data.images import grid, save_png
from suti.data.training_set import from_clusters
from suti.evaluation import base_quality as bq
from suti.models.clip_text import ClipTextTower
from suti.models.t2i import param_counts
from suti.scoring.clip import is_registry_name
from suti.scoring.probe import load_probe
from suti.training.base_model import BaseConfig, drop_heldout_combos, fit


def parse_variants(tokens: list[str]) -> dict[str, dict]:
    """["a", "x.y=1", "b"] -> {"a": {"x": {"y": 1}}, "b": {}}: overrides attach to the name before them."""
    variants: dict[str, dict] = {}
    name = None
    for token in tokens:
        if "=" not in token:
            name = token
            variants[name] = {}
            continue
        if name is None:
            raise SystemExit(f"override {token!r} comes before any variant name")
        key, value = token.split("=", 1)
        node = variants[name]
        *path, leaf = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return variants


def apply_overrides(section: dict, overrides: dict, where: str = "base") -> dict:
    """A copy of `section` with `overrides` merged in; an unknown key fails with its dotted name."""
    out = copy.deepcopy(section)
    for key, value in overrides.items():
        if key not in out:
            raise SystemExit(f"unknown key {where}.{key}")
        out[key] = apply_overrides(out[key], value, f"{where}.{key}") if isinstance(value, dict) else value
    return out


def sample_and_score(pipe, cfg: BaseConfig, probe, guidance: float, n: int, seed: int):
    """(accuracy {"heldout"|"seen": {attribute: acc}}, its 95% half-widths, held-out samples) at one guidance
    scale, on eval_base's prompts."""
    specs = bq.prompt_specs([tuple(c) for c in cfg.heldout_combos], int(cfg.eval.get("colours_per_combo", 2)), seed)
    images = bq.sample_specs(pipe, specs, n, seed, dataclasses.replace(cfg.sample, guidance=guidance))
    hits = bq.correct(probe[0], probe[1], images, specs, n)
    return bq.split_accuracy(hits, specs), bq.interval95(hits, specs), bq.heldout_images(images, specs, n)


def run_variant(name: str, section: dict, train_split, probe, args, seed: int, resolution: int) -> dict:
    cfg = from_dict(BaseConfig, section)
    if args.steps_scale != 1.0:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(
            cfg.train, steps=max(2, int(cfg.train.steps * args.steps_scale))))
    ds, _ = drop_heldout_combos(train_split, cfg.heldout_combos)
    tower = (ClipTextTower.load(cfg.text_tower or args.text_tower) if cfg.model.get("text_encoder") == "clip"
             else None)
    pipe, history, seconds = fit(cfg, resolution, ds, seed, tower, desc=name)
    n_params, n_frozen = param_counts(pipe.params)
    row = dict(variant=name, steps=cfg.train.steps, batch_size=cfg.train.batch_size, train_seconds=round(seconds, 1),
               images_per_s=round(float(np.mean([h["examples_per_s"] for h in history[1:]] or [0])), 1),
               params=n_params, frozen_params=n_frozen, scorer="suti-probe-cnn",
               accuracy={}, ci95={}, class_word_effect={})
    for guidance in args.guidance:
        row["accuracy"][str(guidance)], row["ci95"][str(guidance)], held = sample_and_score(
            pipe, cfg, probe, guidance, args.n_per_prompt, seed)
        row["class_word_effect"][str(guidance)] = bq.class_word_effect(
            pipe, dataclasses.replace(cfg.sample, guidance=guidance))
        save_png(grid(held, cols=args.n_per_prompt, scale=2),
                 os.path.join(args.out, f"base_sweep-{name}-g{guidance:g}.png"))
    return row


def print_row(row: dict) -> None:
    cells = [f"{row['variant']:<14} {row['steps']:>5} x {row['batch_size']:<3} {row['train_seconds']:>6.0f} s"]
    for guidance, acc in row["accuracy"].items():
        ci = row["ci95"][guidance]
        cells.append(f"g{guidance}: " + "  ".join(
            f"{split} " + "/".join(f"{acc[split][a]:.2f}±{ci[split][a]:.2f}" for a in bq.ATTRIBUTES)
            for split in ("heldout", "seen")) + f"  class word effect {row['class_word_effect'][guidance]:.2f}")
    print(" | ".join(cells), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variants", nargs="+", help="NAME [key=value ...] [NAME [key=value ...] ...]")
    p.add_argument("--results", default="results", help="a run's results/ (mining/clusters.parquet, probe/model)")
    p.add_argument("--text-tower", help="frozen text tower of text_encoder clip where a variant gives no text_tower "
                                        "(default: <results>/scorer/model)")
    p.add_argument("--guidance", type=float, nargs="+", default=[1.0, 3.0], help="guidance scales to sample at")
    p.add_argument("--n-per-prompt", type=int, default=4, help="samples per evaluation prompt")
    p.add_argument("--steps-scale", type=float, default=1.0, help="multiply every variant's steps (smoke runs)")
    p.add_argument("--out", default=os.environ.get("OUT", "bench/out"), help="output folder")
    args = p.parse_args()
    config = default_config()
    variants = {name: apply_overrides(config["base"], overrides) for name, overrides in
                parse_variants(args.variants).items()}  # every override checked before hours of training
    args.text_tower = args.text_tower or os.path.join(args.results, "scorer", "model")
    clusters_path = os.path.join(args.results, "mining", "clusters.parquet")
    probe_path = os.path.join(args.results, "probe", "model")
    needed = [clusters_path, probe_path]
    if any(v["model"].get("text_encoder") == "clip" and not v.get("text_tower") for v in variants.values()):
        needed.append(args.text_tower)
    for path in needed:
        if not is_registry_name(path) and not os.path.exists(path):
            raise SystemExit(f"{path} is missing: run `snakemake {' '.join(needed)}` first (or --results)")
    train_split = from_clusters(pq.read_table(clusters_path), "train")  # decoded once for every variant
    probe = load_probe(probe_path)
    os.makedirs(args.out, exist_ok=True)
    print(f"devices {jax.devices()}; accuracy = probe's class/colour/background (chance {bq.chance()})", flush=True)
    for name, section in variants.items():
        row = run_variant(name, section, train_split, probe, args, int(config["seed"]),
                          int(config["world"]["resolution"]))
        print_row(row)
        with open(os.path.join(args.out, "base_sweep.jsonl"), "a") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
