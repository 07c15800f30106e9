"""Subject-cluster mining: from noisy pages to clean clusters, each centred on one subject.

Per page: drop undecodable images and empty captions (counted), drop near-duplicates, embed, take the dominant
group around the page's medoid (everything else is a distractor), drop groups under the minimum size, and name the
class from the captions. Reads only the public corpus columns; ground truth is never seen here.
"""

from __future__ import annotations

import collections
import dataclasses
import re
from typing import Optional

import numpy as np
import pyarrow as pa

from suti import streams
from suti.config import schema_default
from suti.data import tables
from suti.data.images import decode_image
from suti.mining.embed import Embedder
from suti.world import vocab

_STOPWORDS = frozenset("""a an the of in on at with and or to my our your his her its their this that photo photos
picture pictures image img close up view new old next top from by for is are some very""".split())


@dataclasses.dataclass(frozen=True)
class MiningConfig:
    # training-free by hand (`mining: {}`); the run's default is the schema's
    embedder: str = schema_default("mining.embedder")
    # cosine to the cluster centre for an image to join
    similarity_threshold: float = schema_default("mining.similarity_threshold")
    # mean abs difference of 8x8 thumbnails under which two images are one
    duplicate_threshold: float = schema_default("mining.duplicate_threshold")
    min_cluster_size: int = schema_default("mining.min_cluster_size")
    heldout_fraction: float = schema_default("mining.heldout_fraction")
    # nouns to look for in captions; empty = SynthBench's classes
    class_vocab: tuple[str, ...] = schema_default("mining.class_vocab")


@dataclasses.dataclass
class MiningStats:
    """Counts of what went where; every input image is in exactly one of the `images_*` buckets."""

    pages: int = 0
    images: int = 0
    images_corrupt: int = 0
    images_empty_caption: int = 0
    images_duplicate: int = 0
    images_outlier: int = 0
    images_in_small_clusters: int = 0
    images_kept: int = 0
    clusters_kept: int = 0
    clusters_too_small: int = 0
    clusters_class_fallback: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def thumbnail(image: np.ndarray, side: int = 8) -> np.ndarray:
    """Block-mean downsample to [side, side, 3] in [0, 1] (for near-duplicate tests)."""
    h, w, _ = image.shape
    x = image[: h - h % side, : w - w % side].astype(np.float32) / 255.0
    return x.reshape(side, x.shape[0] // side, side, x.shape[1] // side, 3).mean((1, 3))


def drop_duplicates(images: list[np.ndarray], threshold: float) -> list[int]:
    """Indices to keep: each image unless its thumbnail is within `threshold` of an earlier kept one."""
    kept, thumbs = [], []
    for i, img in enumerate(images):
        t = thumbnail(img)
        if all(np.abs(t - u).mean() >= threshold for u in thumbs):
            kept.append(i)
            thumbs.append(t)
    return kept


def dominant_group(emb: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Members of the group around the densest image, and each member's cosine to the group centre.

    The medoid is the image with the most neighbours above `threshold` (ties: highest mean similarity); the centre
    is the mean of the medoid's neighbours; members are all images within `threshold` of the centre.
    """
    sim = emb @ emb.T  # [N, N]
    score = (sim >= threshold).sum(1) + sim.mean(1) / 2  # count first, mean similarity breaks ties
    medoid = int(np.argmax(score))
    centre = emb[sim[medoid] >= threshold].mean(0)
    centre /= max(np.linalg.norm(centre), 1e-8)
    to_centre = emb @ centre
    members = np.flatnonzero(to_centre >= threshold)
    return members, to_centre[members]


def class_noun(captions: list[str], class_vocab: tuple[str, ...]) -> Optional[str]:
    """The vocabulary noun most captions name (ties: vocabulary order); else the commonest content word."""
    words = [w for c in captions for w in re.findall(r"[a-z]+", c.lower())]
    counts = collections.Counter(words)
    named = [(counts[n], -i, n) for i, n in enumerate(class_vocab) if counts[n] > 0]
    if named:
        return max(named)[2]
    content = [(c, w) for w, c in counts.items() if w not in _STOPWORDS and len(w) > 2 and not w.isdigit()]
    return max(content)[1] if content else None


def _page_rows(table: pa.Table) -> dict[str, list[dict]]:
    pages: dict[str, list[dict]] = collections.defaultdict(list)
    for row in table.to_pylist():
        pages[row["page_id"]].append(row)
    return pages


def mine_page(rows: list[dict], cfg: MiningConfig, embedder: Embedder, stats: MiningStats, vocab_: tuple):
    """The cluster rows of one page (maybe none); updates `stats`."""
    stats.pages += 1
    stats.images += len(rows)
    valid, images = [], []
    for row in rows:
        img = decode_image(row["image"])
        if img is None:
            stats.images_corrupt += 1
        elif not (row["caption"] or "").strip():
            stats.images_empty_caption += 1
        else:
            valid.append(row)
            images.append(img)
    keep = drop_duplicates(images, cfg.duplicate_threshold)
    stats.images_duplicate += len(images) - len(keep)
    if not keep:
        return []
    valid, images = [valid[i] for i in keep], np.stack([images[i] for i in keep])
    members, sims = dominant_group(embedder.embed(images), cfg.similarity_threshold)
    stats.images_outlier += len(valid) - len(members)
    if len(members) < cfg.min_cluster_size:
        stats.clusters_too_small += 1
        stats.images_in_small_clusters += len(members)
        return []
    chosen = [valid[i] for i in members]
    noun = class_noun([r["caption"] for r in chosen], vocab_)
    if noun is None or noun not in vocab_:
        stats.clusters_class_fallback += 1
    stats.clusters_kept += 1
    stats.images_kept += len(chosen)
    cluster_id = f"c-{chosen[0]['page_id']}"
    return [dict(cluster_id=cluster_id, split="", class_noun=noun or "object", page_id=r["page_id"],
                 image_id=r["image_id"], caption=r["caption"], image=r["image"], similarity=float(s))
            for r, s in zip(chosen, sims)]


def n_heldout(n_subjects: int, heldout_fraction: float) -> int:
    """How many of n subjects are held out: the fraction rounded, at least one and never all (given two or more)."""
    n = int(round(n_subjects * heldout_fraction))
    if heldout_fraction > 0 and n_subjects >= 2:
        n = min(max(n, 1), n_subjects - 1)
    return n


def split_clusters(cluster_ids: list[str], heldout_fraction: float, seed: int) -> dict[str, str]:
    """Disjoint train / held-out subjects: an exact fraction, chosen by a seeded permutation of sorted ids."""
    ids = sorted(set(cluster_ids))
    n_heldout_ = n_heldout(len(ids), heldout_fraction)
    order = np.random.default_rng([seed, streams.MINING_SPLIT]).permutation(len(ids))
    heldout = {ids[i] for i in order[:n_heldout_]}
    return {c: ("heldout" if c in heldout else "train") for c in ids}


def mine(corpus: pa.Table, cfg: MiningConfig, embedder: Embedder, seed: int, progress=None):
    """Mine clusters from a public corpus table. Returns (`tables.CLUSTERS` table, MiningStats)."""
    leaked = [c for c in corpus.column_names if c.startswith("gt_")]
    if leaked:
        raise ValueError(f"mining must not see ground truth, got columns {leaked}")
    vocab_ = tuple(cfg.class_vocab) or vocab.CLASSES
    stats, rows = MiningStats(), []
    for page_rows in _page_rows(corpus).values():
        rows.extend(mine_page(page_rows, cfg, embedder, stats, vocab_))
        if progress is not None:
            progress.update(1)
    splits = split_clusters([r["cluster_id"] for r in rows], cfg.heldout_fraction, seed)
    for r in rows:
        r["split"] = splits[r["cluster_id"]]
    return tables.from_rows(rows, tables.CLUSTERS), stats
