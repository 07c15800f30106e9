"""`suti build-corpus`: the corpus table shards (SynthBench, an image folder, or a manifest)."""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa

from suti import io
from suti.config import from_dict
from suti.data import corpus, ingest, tables
from suti.data.images import decode_image, grid, save_png
from suti.stages.common import add_params_argument, log, progress, write_summary
from suti.world.config import WorldConfig

HELP = "build the corpus shards"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--shards", nargs="+", required=True, help="output parquet paths, one per shard")
    p.add_argument("--rejected", required=True,
                   help="output parquet: one row per real-corpus input skipped or altered, with its reason")
    p.add_argument("--summary", required=True, help="output JSON summary (a .parquet twin is written beside it)")
    p.add_argument("--preview", required=True, help="output PNG: a few pages, one per row")


def _tables(seed: int, wcfg: WorldConfig, cfg: corpus.CorpusConfig) -> tuple[list[pa.Table], pa.Table]:
    """The corpus shards, and the rejected inputs (none for SynthBench, whose noise is kept on purpose for mining)."""
    if cfg.source == "synthbench":
        with progress(cfg.n_pages, "corpus pages") as bar:
            return list(corpus.iter_shards(seed, wcfg, cfg, bar)), tables.from_rows([], tables.REJECTED)
    reader = ingest.from_folder if cfg.source == "folder" else ingest.from_manifest
    done = reader(cfg.path, wcfg.resolution, cfg.limits(), cfg.root)
    return ingest.split_shards(done.table, cfg.n_shards), done.rejected


def summarise(shards: list[pa.Table], rejected: pa.Table) -> dict:
    table = pa.concat_tables(shards)
    roles = collections.Counter(table.column("gt_role").to_pylist())
    corrupt = collections.Counter(table.column("gt_corrupt").to_pylist())
    return dict(
        pages=len(set(table.column("page_id").to_pylist())),
        images=len(table),
        shards=len(shards),
        **{f"images_{k}": v for k, v in sorted(roles.items()) if k},
        images_corrupt_bytes=corrupt.get("bytes", 0),
        images_empty_caption=corrupt.get("caption", 0),
        rejected=ingest.Ingested(table, rejected).counts(),
    )


def preview(table: pa.Table, n_pages: int = 8, per_page: int = 12) -> np.ndarray:
    """A grid: one row per page, its images in order (undecodable ones shown black)."""
    rows = collections.defaultdict(list)
    for r in table.select(["page_id", "image"]).to_pylist():
        if len(rows) < n_pages or r["page_id"] in rows:
            rows[r["page_id"]].append(r["image"])
    pages = [[decode_image(b) for b in page[:per_page]] for page in rows.values()]
    side = next(im for page in pages for im in page if im is not None).shape[0]
    blank = np.zeros((side, side, 3), np.uint8)
    cells = []
    for imgs in pages:
        imgs = [blank if im is None else im for im in imgs]
        cells.extend(imgs + [np.full_like(blank, 255)] * (per_page - len(imgs)))
    return grid(cells, cols=per_page, scale=max(1, 64 // side))


def run(args) -> None:
    seed = int(args.params["seed"])
    wcfg = from_dict(WorldConfig, args.params["world"])
    cfg = from_dict(corpus.CorpusConfig, args.params["corpus"])
    if len(args.shards) != cfg.n_shards:
        raise ValueError(f"{len(args.shards)} shard paths for corpus.n_shards = {cfg.n_shards}")
    shards, rejected = _tables(seed, wcfg, cfg)
    for table, path in zip(shards, args.shards):
        io.write_parquet(table, path)
    io.write_parquet(rejected, args.rejected)
    summary = summarise(shards, rejected)
    log.info("corpus: %s", summary)
    save_png(preview(next(s for s in shards if len(s))), args.preview)  # a corpus of few pages leaves shards empty
    write_summary(summary, args.summary, figures=(args.preview,))
