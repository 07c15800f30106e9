"""SynthBench corpus: web-like pages, each centred on one subject, with the noise real web data has.

A page shows its subject in 3-12 varied scenes, plus (by config) distractor images of other subjects, near-duplicates
of its own images, captions that miss the subject, undecodable image bytes and empty captions. Ground truth goes in
the `gt_*` columns.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterator

import numpy as np
import pyarrow as pa

from suti import streams, world
from suti.config import from_schema, schema_default
from suti.data import tables
from suti.data.images import encode_png
from suti.data.ingest import IngestLimits
from suti.world.config import WorldConfig


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    """Per-image probabilities of each kind of web noise."""

    # per genuine image: add one image of another subject to the page
    distractor: float = schema_default("corpus.noise.distractor")
    near_duplicate: float = schema_default("corpus.noise.near_duplicate")  # per genuine image: add a near copy of it
    caption_miss: float = schema_default("corpus.noise.caption_miss")  # caption that does not mention the subject
    corrupt_bytes: float = schema_default("corpus.noise.corrupt_bytes")  # undecodable image bytes
    empty_caption: float = schema_default("corpus.noise.empty_caption")


@dataclasses.dataclass(frozen=True)
class CorpusConfig:
    source: str = schema_default("corpus.source")  # "synthbench" | "folder" | "manifest"
    path: str = schema_default("corpus.path")  # the folder or manifest, for real corpora
    # real corpora: nothing outside it is opened ("" = the folder / manifest's)
    root: str = schema_default("corpus.root")
    # real corpora: larger images are skipped (decompression bombs)
    max_pixels: int = schema_default("corpus.max_pixels")
    max_file_mb: float = schema_default("corpus.max_file_mb")  # real corpora: larger image files are skipped
    max_caption_chars: int = schema_default("corpus.max_caption_chars")  # real corpora: longer captions are truncated
    n_pages: int = schema_default("corpus.n_pages")
    images_per_page: tuple[int, int] = schema_default("corpus.images_per_page")
    n_shards: int = schema_default("corpus.n_shards")
    companion_prob: float = schema_default("corpus.companion_prob")
    shiny_prob: float = schema_default("corpus.shiny_prob")
    noise: NoiseConfig = from_schema(NoiseConfig, "corpus.noise")

    def limits(self) -> IngestLimits:
        return IngestLimits(self.max_pixels, self.max_file_mb, self.max_caption_chars)


def _image_row(page_id, subject, scene, caption, role, res):
    look = world.render_appearance(subject, scene)
    return dict(
        page_id=page_id, image=encode_png(world.render(subject, scene, res)), caption=caption, source="synthbench",
        gt_subject_id=subject.subject_id, gt_class=subject.cls, gt_colour=look["colour"], gt_pattern=look["pattern"],
        gt_role=role, gt_duplicate_of=None, gt_corrupt="", gt_scene=json.dumps(scene.to_dict()),
    )


def _near_duplicate(scene: world.Scene, rng: np.random.Generator, res: int) -> world.Scene:
    """The same shot, shifted by about a pixel and re-exposed by a few percent (a re-upload or a re-crop)."""
    return dataclasses.replace(
        scene,
        cx=scene.cx + rng.uniform(-1, 1) / res,
        cy=scene.cy + rng.uniform(-1, 1) / res,
        brightness=scene.brightness * rng.uniform(0.97, 1.03),
    )


def make_page(page: int, seed: int, wcfg: WorldConfig, cfg: CorpusConfig) -> list[dict]:
    """All rows of page `page`: its subject's images, then noise, shuffled; deterministic from (seed, page)."""
    rng = np.random.default_rng([seed, streams.CORPUS_PAGES, page])
    page_id = f"page{page:06d}"
    res = wcfg.resolution
    subject = world.make_subject(seed, page)
    scene_kw = dict(companion_prob=cfg.companion_prob, shiny_prob=cfg.shiny_prob)
    noise = cfg.noise
    rows, scenes = [], []
    for _ in range(int(rng.integers(cfg.images_per_page[0], cfg.images_per_page[1] + 1))):
        scene = world.sample_scene(rng, **scene_kw)
        miss = rng.uniform() < noise.caption_miss
        caption = world.miss(scene, rng) if miss else world.describe(subject, scene, rng)
        rows.append(_image_row(page_id, subject, scene, caption, "subject", res))
        scenes.append(scene)
    n_genuine = len(rows)
    for _ in range(rng.binomial(n_genuine, noise.distractor)):
        other = world.make_subject(seed, wcfg.n_subjects + int(rng.integers(wcfg.n_distractor_subjects)))
        scene = world.sample_scene(rng, **scene_kw)
        rows.append(_image_row(page_id, other, scene, world.describe(other, scene, rng), "distractor", res))
    for _ in range(rng.binomial(n_genuine, noise.near_duplicate)):
        src = int(rng.integers(n_genuine))
        row = _image_row(page_id, subject, _near_duplicate(scenes[src], rng, res), rows[src]["caption"],
                         "duplicate", res)
        row["gt_duplicate_of"] = src  # an index for now; becomes an image_id after the shuffle
        rows.append(row)
    order = rng.permutation(len(rows))
    ids = {int(old): f"{page_id}-{new:02d}" for new, old in enumerate(order)}
    out = []
    for old in order:
        row = dict(rows[old], image_id=ids[int(old)])
        if row["gt_duplicate_of"] is not None:
            row["gt_duplicate_of"] = ids[row["gt_duplicate_of"]]
        _corrupt(row, rng, noise)
        out.append(row)
    return out


def _corrupt(row: dict, rng: np.random.Generator, noise: NoiseConfig) -> None:
    """Damage a row in place, as a crawler would: truncated bytes, or a lost caption."""
    u = rng.uniform(size=2)
    if u[0] < noise.corrupt_bytes:
        row["image"] = row["image"][: int(rng.integers(8, 40))]
        row["gt_corrupt"] = "bytes"
    elif u[1] < noise.empty_caption:
        row["caption"] = ""
        row["gt_corrupt"] = "caption"


def shard_pages(n_pages: int, n_shards: int, shard: int) -> range:
    """The pages of shard `shard`: contiguous, sizes differing by at most one."""
    bounds = np.linspace(0, n_pages, n_shards + 1).round().astype(int)
    return range(int(bounds[shard]), int(bounds[shard + 1]))


def build_shard(shard: int, seed: int, wcfg: WorldConfig, cfg: CorpusConfig, progress=None) -> pa.Table:
    """The corpus rows of one shard as a `tables.CORPUS` table."""
    if cfg.n_pages > wcfg.n_subjects:
        raise ValueError(f"corpus.n_pages ({cfg.n_pages}) exceeds world.n_subjects ({wcfg.n_subjects})")
    rows = []
    for page in shard_pages(cfg.n_pages, cfg.n_shards, shard):
        rows.extend(make_page(page, seed, wcfg, cfg))
        if progress is not None:
            progress.update(1)
    return tables.from_rows(rows, tables.CORPUS)


def iter_shards(seed: int, wcfg: WorldConfig, cfg: CorpusConfig, progress=None) -> Iterator[pa.Table]:
    for shard in range(cfg.n_shards):
        yield build_shard(shard, seed, wcfg, cfg, progress)
