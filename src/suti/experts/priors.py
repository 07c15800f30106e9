"""DreamBooth's class-prior images (sampled by `suti sample-priors`), read back per class."""

from __future__ import annotations

import numpy as np

from suti.data import tables
from suti.data.training_set import decode_by


def load_priors(path) -> dict[str, np.ndarray]:
    """{class noun: uint8 [n, H, W, 3]} from a priors table."""
    return decode_by(tables.read_table([path], ["class_noun", "image"]).to_pylist(), "class_noun")
