"""Mining: quality against ground truth, bad input counted, no ground-truth leaks, splits."""

from __future__ import annotations

import numpy as np
import pytest

from suti.data import tables
from suti.evaluation.mining_quality import mining_quality
from suti.mining.clusters import (
    MiningConfig,
    class_noun,
    dominant_group,
    drop_duplicates,
    mine,
    split_clusters,
)
from suti.mining.embed import ColorShapeEmbedder, get_embedder

COLOR_SHAPE = MiningConfig(embedder="color_shape", similarity_threshold=0.85)  # training-free, as the micro config


@pytest.fixture(scope="module")
def mined(small_corpus):
    return mine(tables.read_corpus(small_corpus), COLOR_SHAPE, get_embedder("color_shape"), seed=0)


def test_mining_quality_at_micro_scale(mined, small_corpus):
    clusters, stats = mined
    quality = mining_quality(clusters, small_corpus)
    assert quality["purity"] >= 0.95
    assert quality["recall"] >= 0.90
    assert quality["class_accuracy"] >= 0.95
    assert clusters.schema == tables.CLUSTERS


def test_every_image_is_accounted_for(mined, small_corpus):
    clusters, stats = mined
    gt = tables.read_table(small_corpus).to_pylist()
    buckets = (stats.images_corrupt + stats.images_empty_caption + stats.images_duplicate + stats.images_outlier
               + stats.images_in_small_clusters + stats.images_kept)
    assert stats.images == len(gt) == buckets
    assert stats.images_corrupt == sum(r["gt_corrupt"] == "bytes" for r in gt)
    assert stats.images_empty_caption == sum(r["gt_corrupt"] == "caption" for r in gt)
    kept = set(clusters.column("image_id").to_pylist())
    assert not kept & {r["image_id"] for r in gt if r["gt_corrupt"]}


def test_mining_refuses_ground_truth(small_corpus):
    with pytest.raises(ValueError, match="ground truth"):
        mine(tables.read_table(small_corpus), COLOR_SHAPE, get_embedder("color_shape"), seed=0)


def test_split_is_disjoint_exact_and_deterministic(mined):
    ids = [f"c{i}" for i in range(50)]
    a, b = split_clusters(ids, 0.2, 0), split_clusters(ids, 0.2, 0)
    assert a == b and sum(v == "heldout" for v in a.values()) == 10
    assert split_clusters(ids, 0.2, 1) != a
    clusters, _ = mined
    pairs = set(zip(clusters.column("cluster_id").to_pylist(), clusters.column("split").to_pylist()))
    assert len(pairs) == len({c for c, _ in pairs})  # one split per cluster
    assert {s for _, s in pairs} == {"train", "heldout"}


def test_near_duplicates_are_dropped():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + 2, 0, 255).astype(np.uint8)
    c = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    assert drop_duplicates([a, b, c], 0.03) == [0, 2]


def test_dominant_group_finds_the_majority():
    rng = np.random.default_rng(0)
    centre, other = np.eye(8)[0], np.eye(8)[1]
    emb = np.stack([centre + 0.05 * rng.normal(size=8) for _ in range(5)] + [other, other + 0.01])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    members, sims = dominant_group(emb, 0.9)
    assert list(members) == [0, 1, 2, 3, 4] and (sims >= 0.9).all()


def test_class_noun_from_captions():
    vocab = ("mug", "vase")
    assert class_noun(["a red mug", "my mug on the beach", "a vase"], vocab) == "mug"
    assert class_noun(["holiday pictures", "untitled"], vocab) in {"holiday", "untitled", "pictures"}
    assert class_noun([""], vocab) is None


def test_embedding_is_unit_norm_and_deterministic(small_corpus):
    from suti.data.images import decode_image

    imgs = [decode_image(b) for b in tables.read_table(small_corpus).column("image").to_pylist()[:40]]
    imgs = np.stack([i for i in imgs if i is not None])
    e1, e2 = ColorShapeEmbedder().embed(imgs), ColorShapeEmbedder(batch_size=7).embed(imgs)
    np.testing.assert_allclose(np.linalg.norm(e1, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(e1, e2, rtol=1e-5, atol=1e-6)
    with pytest.raises(KeyError, match="unknown embedder"):
        get_embedder("nope")


def test_mining_quality_without_ground_truth_is_missing_with_reason(tmp_path):
    from suti import io

    corpus = tables.from_rows([dict(page_id="p", image_id="i", caption="c", image=b"")], tables.CORPUS)
    io.write_parquet(corpus, tmp_path / "c.parquet")
    clusters = tables.from_rows([], tables.CLUSTERS)
    q = mining_quality(clusters, [tmp_path / "c.parquet"])
    assert q["purity"] is None and "no ground truth" in q["reason"]
