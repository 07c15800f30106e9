"""Mining speed and quality at the default noise level, with the embedding cost shown beside the whole stage.

Run: `python bench/bench_mining.py [--pages 800]` (800 = the default config). Prints purity, recall, class accuracy
and images/s for corpus building, embedding alone, and the full mining stage.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from suti import io
from suti.data import tables
from suti.data.corpus import CorpusConfig, build_shard
from suti.data.images import decode_image
from suti.evaluation.mining_quality import mining_quality
from suti.mining.clusters import MiningConfig, mine
from suti.mining.embed import get_embedder
from suti.world.config import WorldConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--pages", type=int, default=800)
    p.add_argument("--threshold", type=float, nargs="+", default=[0.8, 0.85, 0.9])
    p.add_argument("--out", default="bench/out/mining.json")
    args = p.parse_args()
    start = time.perf_counter()
    corpus = build_shard(0, 0, WorldConfig(), CorpusConfig(n_pages=args.pages, n_shards=1))
    t_corpus = time.perf_counter() - start
    print(f"corpus: {len(corpus)} images from {args.pages} pages in {t_corpus:.1f}s ({len(corpus) / t_corpus:.0f} img/s)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "corpus.parquet")
        io.write_parquet(corpus, path)
        public = tables.read_corpus([path])
        images = [decode_image(b) for b in public.column("image").to_pylist()]
        images = np.stack([im for im in images if im is not None])
        start = time.perf_counter()
        get_embedder("color_shape").embed(images)
        t_embed = time.perf_counter() - start
        print(f"embedding alone: {len(images) / t_embed:.0f} img/s")
        results = dict(pages=args.pages, images=len(corpus), corpus_images_per_s=len(corpus) / t_corpus,
                       embed_images_per_s=len(images) / t_embed, thresholds={})
        for thr in args.threshold:
            start = time.perf_counter()
            clusters, stats = mine(public, MiningConfig(embedder="color_shape", similarity_threshold=thr), get_embedder("color_shape"), 0)
            t_mine = time.perf_counter() - start
            q = mining_quality(clusters, [path])
            print(f"threshold {thr:.2f}: purity {q['purity']:.4f} recall {q['recall']:.4f} "
                  f"class acc {q['class_accuracy']:.4f} clusters {stats.clusters_kept} "
                  f"mining {len(corpus) / t_mine:.0f} img/s ({t_mine:.1f}s)")
            results["thresholds"][str(thr)] = dict(q, clusters=stats.clusters_kept, seconds=t_mine)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    io.write_json(results, args.out)


if __name__ == "__main__":
    main()
