"""Accelerator check (run once on a lent GPU): devices, base-model train speed at the default size and at a larger
batch, and whether more training steps fix the base model's class/colour following (is it compute or method?).

Runs the library directly (no Snakemake): builds the default corpus, mines it, trains the probe and the base model,
and measures prompt following with the probe. Writes $OUT/device_check.json (or bench/out/).
Usage: python bench/device_check.py [--seconds 200]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax

from suti.data.corpus import CorpusConfig, build_shard
from suti.data.tables import PUBLIC_CORPUS_COLUMNS
from suti.data.training_set import from_clusters
from suti.evaluation import base_quality as bq
from suti.mining.clusters import MiningConfig, mine
from suti.mining.embed import get_embedder
from suti.models.pipeline import TextToImagePipeline
from suti.models.text import Tokenizer
from suti.scoring.probe import ProbeConfig, evaluate_probe, train_probe
from suti.training.base_model import drop_heldout_combos, model_config
from suti.training.checkpoints import export_model
from suti.diffusion.config import DiffusionConfig, SampleConfig
from suti.training.config import TrainConfig
from suti.training.t2i import init_model, train_t2i
from suti.world import prompts
from suti.world.config import WorldConfig

HELD = [("mug", "beach"), ("ball", "snow"), ("vase", "jungle"), ("box", "night sky"), ("lamp", "street"),
        ("bottle", "pink fabric"), ("teapot", "grass"), ("chair", "wooden floor")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=200, help="base training time budget")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--quick", action="store_true", help="a seconds-long smoke run of this script on a CPU")
    args = p.parse_args()
    out_dir = os.environ.get("OUT", "bench/out")
    report = {"devices": [str(d) for d in jax.devices()]}
    print(report, flush=True)
    t = time.time()
    corpus = build_shard(0, 0, WorldConfig(), CorpusConfig(n_pages=60 if args.quick else 800, n_shards=1))
    clusters, _ = mine(corpus.select(list(PUBLIC_CORPUS_COLUMNS)), MiningConfig(embedder="color_shape", similarity_threshold=0.85), get_embedder("color_shape"), 0)
    ds, _ = drop_heldout_combos(from_clusters(clusters, "train"), HELD)
    report["data_seconds"] = time.time() - t
    t = time.time()
    pg, pp, _ = train_probe(ProbeConfig(steps=5 if args.quick else 2500), 0, 32)
    report["probe_seconds"], report["probe_accuracy"] = time.time() - t, evaluate_probe(pg, pp, 2000, 0, 32)
    print(report, flush=True)
    mcfg = model_config({}, 32)
    tok = Tokenizer.build(list(ds.texts) + prompts.vocabulary_texts(), mcfg.max_tokens)
    tokens, null = tok.encode(ds.texts), tok.encode([""])[0]
    diff = DiffusionConfig()
    for batch in (32, args.batch):  # speed at the CPU default batch and at an accelerator batch
        g, params = init_model(mcfg, tok.size, 0)
        cfg = TrainConfig(batch_size=batch, steps=4 if args.quick else 60, log_every=2 if args.quick else 20,
                          warmup_steps=2)
        _, hist = train_t2i(g, params, ds.images, tokens, null, diff, cfg, 0)
        report[f"train_images_per_s_batch{batch}"] = hist[-1]["examples_per_s"]
    rate = report[f"train_images_per_s_batch{args.batch}"]
    steps = int(args.seconds * rate / args.batch)
    cfg = TrainConfig(batch_size=args.batch, steps=steps, learning_rate=2e-3, warmup_steps=200, log_every=500)
    g, params = init_model(mcfg, tok.size, 0)
    t = time.time()
    state, hist = train_t2i(g, params, ds.images, tokens, null, diff, cfg, 0)
    report.update(long_run_steps=steps, long_run_batch=args.batch, long_run_seconds=time.time() - t,
                  long_run_images_seen=steps * args.batch, loss_curve=hist)
    export_model("/tmp/base_long", state["ema"], {"model": mcfg, "diffusion": diff, "tokenizer": tok.to_json()})
    pipe = TextToImagePipeline.load("/tmp/base_long")
    specs = bq.prompt_specs(HELD[:1] if args.quick else HELD, 2, 0)
    for guidance in (1.0, 3.0):
        sample_cfg = SampleConfig(steps=3 if args.quick else 50, guidance=guidance)
        images = pipe.sample([s.text for s in specs for _ in range(4)], 0, sample_cfg, 128)
        report[f"quality_guidance_{guidance}"] = bq.accuracy(pg, pp, images, specs, 4)
        print(guidance, report[f"quality_guidance_{guidance}"], flush=True)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "device_check.json"), "w") as f:
        json.dump(report, f, indent=2, default=float)
    print(json.dumps({k: v for k, v in report.items() if k != "loss_curve"}, indent=1, default=float))


if __name__ == "__main__":
    main()
