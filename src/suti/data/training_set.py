"""In-memory training sets decoded from stage tables: uint8 images plus their texts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from suti.data import tables
from suti.data.images import decode_image


@dataclasses.dataclass(frozen=True)
class ImageTextSet:
    images: np.ndarray          # uint8 [N, H, W, 3]
    texts: tuple[str, ...]      # one per image
    groups: tuple[str, ...]     # cluster (subject) of each image

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, keep: np.ndarray) -> "ImageTextSet":
        idx = np.flatnonzero(keep)
        return ImageTextSet(self.images[idx], tuple(self.texts[i] for i in idx), tuple(self.groups[i] for i in idx))


def from_clusters(clusters: pa.Table, split: str) -> ImageTextSet:
    """The images of one split of the mined clusters, with their captions."""
    rows = [r for r in clusters.select(["cluster_id", "split", "caption", "image"]).to_pylist() if r["split"] == split]
    if not rows:
        raise ValueError(f"no mined images in split {split!r}")
    images = np.stack([decode_image(r["image"]) for r in rows])
    return ImageTextSet(images, tuple(r["caption"] for r in rows), tuple(r["cluster_id"] for r in rows))


def decode_by(rows, key: str, wanted=None) -> dict[str, np.ndarray]:
    """{row[key]: uint8 [M, H, W, 3]}: the rows' decoded images grouped by `key` in row order (only the keys in
    `wanted`, when given)."""
    out: dict[str, list] = {}
    for row in rows:
        if wanted is None or row[key] in wanted:
            out.setdefault(row[key], []).append(decode_image(row["image"]))
    return {k: np.stack(v) for k, v in out.items()}


def subject_images(clusters_path, subjects) -> dict[str, np.ndarray]:
    """{cluster id: uint8 [M, H, W, 3]}: the mined images of the given subjects."""
    return decode_by(tables.read_table([clusters_path], ["cluster_id", "image"]).to_pylist(), "cluster_id",
                     set(subjects))


def train_subject_pngs(clusters_path) -> tuple[dict[str, list], dict[str, str]]:
    """({subject: [PNG bytes]}, {subject: class noun}) of the mined train split."""
    rows = tables.read_table([clusters_path], ["cluster_id", "split", "class_noun", "image"]).to_pylist()
    images, classes = {}, {}
    for r in rows:
        if r["split"] == "train":
            images.setdefault(r["cluster_id"], []).append(r["image"])
            classes[r["cluster_id"]] = r["class_noun"]
    return images, classes


def to_unit_range(images_u8: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images_u8.astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255]."""
    return np.clip((np.asarray(images) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
