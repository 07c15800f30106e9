"""The SynthBench corpus: schema round-trip, page structure, noise fractions, determinism."""

from __future__ import annotations

import collections
import json

import numpy as np
import pyarrow.parquet as pq

from suti import io
from suti.data import tables
from suti.data.corpus import (
    CorpusConfig,
    NoiseConfig,
    build_shard,
    make_page,
    shard_pages,
)
from suti.data.images import decode_image
from suti.world.config import WorldConfig

WORLD = WorldConfig(n_subjects=1000, n_distractor_subjects=50)


def test_schema_round_trip(tmp_path, small_corpus):
    table = tables.read_table(small_corpus)
    assert table.schema == tables.CORPUS
    io.write_parquet(table, tmp_path / "copy.parquet")
    again = pq.read_table(tmp_path / "copy.parquet")
    assert again.equals(table)
    assert set(tables.read_corpus(small_corpus).column_names) == set(tables.PUBLIC_CORPUS_COLUMNS)
    assert not any(c.startswith("gt_") for c in tables.PUBLIC_CORPUS_COLUMNS)


def test_pages_are_centred_on_one_subject(small_corpus):
    rows = tables.read_table(small_corpus).to_pylist()
    pages = collections.defaultdict(list)
    for r in rows:
        pages[r["page_id"]].append(r)
    assert len(pages) == 60
    for page in pages.values():
        genuine = [r for r in page if r["gt_role"] == "subject"]
        assert 3 <= len(genuine) <= 12
        assert len({r["gt_subject_id"] for r in genuine}) == 1
        others = {r["gt_subject_id"] for r in page if r["gt_role"] == "distractor"}
        assert all(sid >= WORLD.n_subjects for sid in others)  # distractors never own a page
        ids = {r["image_id"] for r in page}
        for r in page:
            if r["gt_role"] == "duplicate":
                assert r["gt_duplicate_of"] in ids
            json.loads(r["gt_scene"])


def test_noise_fractions_match_config():
    noise = NoiseConfig(distractor=0.15, near_duplicate=0.1, caption_miss=0.2, corrupt_bytes=0.05, empty_caption=0.05)
    cfg = CorpusConfig(n_pages=300, n_shards=1, noise=noise)
    rows = build_shard(0, 0, WORLD, cfg).to_pylist()
    genuine = sum(r["gt_role"] == "subject" for r in rows)
    roles = collections.Counter(r["gt_role"] for r in rows)
    assert abs(roles["distractor"] / genuine - 0.15) < 0.03
    assert abs(roles["duplicate"] / genuine - 0.10) < 0.03
    corrupt = collections.Counter(r["gt_corrupt"] for r in rows)
    assert abs(corrupt["bytes"] / len(rows) - 0.05) < 0.015
    assert abs(corrupt["caption"] / len(rows) - 0.05 * 0.95) < 0.015
    for r in rows:
        assert (decode_image(r["image"]) is None) == (r["gt_corrupt"] == "bytes")
        assert (r["caption"] == "") == (r["gt_corrupt"] == "caption")
    subject_rows = [r for r in rows if r["gt_role"] == "subject" and r["caption"]]
    missed = sum(r["gt_class"] not in r["caption"].split() for r in subject_rows)
    assert abs(missed / len(subject_rows) - 0.2) < 0.04


def test_pages_are_deterministic_and_independent_of_sharding():
    cfg = CorpusConfig(n_pages=10)
    assert make_page(4, 0, WORLD, cfg) == make_page(4, 0, WORLD, cfg)
    assert make_page(4, 0, WORLD, cfg) != make_page(4, 1, WORLD, cfg)
    one = build_shard(0, 0, WORLD, CorpusConfig(n_pages=10, n_shards=1))
    two = [build_shard(i, 0, WORLD, CorpusConfig(n_pages=10, n_shards=2)) for i in range(2)]
    assert one.to_pylist() == two[0].to_pylist() + two[1].to_pylist()


def test_shards_cover_pages_exactly():
    for n_pages, n_shards in [(10, 3), (7, 7), (100, 4)]:
        covered = [p for s in range(n_shards) for p in shard_pages(n_pages, n_shards, s)]
        assert covered == list(range(n_pages))


def test_images_are_renders_at_the_world_resolution(small_corpus):
    row = tables.read_table(small_corpus).slice(0, 1).to_pylist()[0]
    img = decode_image(row["image"])
    assert img is None or img.shape == (32, 32, 3)
    assert np.asarray(img).dtype == np.uint8
