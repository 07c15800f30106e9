"""`suti mine-clusters`: subject clusters from the corpus, a train / held-out split, and their quality."""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa

from suti import io
from suti.config import from_dict
from suti.data import tables
from suti.data.images import decode_image, grid, save_png
from suti.evaluation.mining_quality import mining_quality
from suti.mining.clusters import MiningConfig, mine
from suti.mining.embed import USES_CLIP, get_embedder
from suti.scoring.clip import ClipSpec, load_clip
from suti.stages.common import add_params_argument, log, progress, write_summary

HELP = "mine subject clusters from the corpus"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--corpus", nargs="+", required=True, help="corpus parquet shards")
    p.add_argument("--clusters", required=True, help="output parquet: one row per kept image")
    p.add_argument("--summary", required=True, help="output JSON: counts and quality vs ground truth")
    p.add_argument("--preview", required=True, help="output PNG: clusters, one per row")
    p.add_argument("--scorer", default=None, help="trained small CLIP folder (mining.embedder clip, scoring.clip.model "
                                                  "empty)")


def embedder_for(cfg: MiningConfig, args):
    if cfg.embedder not in USES_CLIP:
        return get_embedder(cfg.embedder)
    return get_embedder(cfg.embedder, scorer=load_clip(from_dict(ClipSpec, args.params["scoring"]["clip"]), args.scorer))


def preview(clusters: pa.Table, n: int = 10, per_cluster: int = 10) -> np.ndarray:
    groups = collections.defaultdict(list)
    for r in clusters.select(["cluster_id", "image"]).to_pylist():
        if len(groups) < n or r["cluster_id"] in groups:
            groups[r["cluster_id"]].append(decode_image(r["image"]))
    side = next(iter(groups.values()))[0].shape[0]
    white = np.full((side, side, 3), 255, np.uint8)
    cells = [im for g in groups.values() for im in (g[:per_cluster] + [white] * (per_cluster - len(g)))]
    return grid(cells, cols=per_cluster, scale=max(1, 64 // side))


def run(args) -> None:
    seed = int(args.params["seed"])
    cfg = from_dict(MiningConfig, args.params["mining"])
    corpus = tables.read_corpus(args.corpus)
    n_pages = len(set(corpus.column("page_id").to_pylist()))
    with progress(n_pages, "mining pages") as bar:
        clusters, stats = mine(corpus, cfg, embedder_for(cfg, args), seed, bar)
    splits = collections.Counter(s for _, s in set(zip(clusters.column("cluster_id").to_pylist(),
                                                       clusters.column("split").to_pylist())))
    summary = dict(stats.to_dict(), embedder=cfg.embedder,
                   clusters_train=splits["train"], clusters_heldout=splits["heldout"],
                   **mining_quality(clusters, args.corpus))
    log.info("mining: %s", summary)
    io.write_parquet(clusters, args.clusters)
    if not len(clusters):
        write_summary(summary, args.summary)
        raise ValueError("mining kept no cluster; lower mining.min_cluster_size or mining.similarity_threshold")
    save_png(preview(clusters), args.preview)
    write_summary(summary, args.summary, figures=(args.preview,))
