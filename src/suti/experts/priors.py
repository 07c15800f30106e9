"""DreamBooth's class-prior images (sampled by `suti sample-priors`), read back per class."""

from __future__ import annotations

import numpy as np

from suti.data import tables
from suti.data.training_set import decode_by
from suti.errors import SutiError


def load_priors(path) -> dict[str, np.ndarray]:
    """{class noun: uint8 [n, H, W, 3]} from a priors table."""
    return decode_by(tables.read_table([path], ["class_noun", "image"]).to_pylist(), "class_noun")


def priors_for(path, class_nouns: list[str], prior_batch: int) -> dict[str, np.ndarray]:
    """{class noun: prior images} for the classes of some experts. Without prior preservation (prior_batch 0) no
    priors are needed and each class gets none; with it, a missing table or class stops with a one-line error."""
    if not prior_batch:
        return {c: np.zeros((0, 1, 1, 3), np.uint8) for c in class_nouns}
    if not path:
        raise SutiError("experts.prior_batch > 0 (prior preservation) needs class-prior images: pass --priors "
                        "(written by suti sample-priors)")
    priors = load_priors(path)
    missing = sorted(set(class_nouns) - set(priors))
    if missing:
        raise SutiError(f"{path} has no prior images for class(es) {missing}")
    return priors
