"""What the unit tests of tiny models share: a tokenizer of three captions, and weights moved off their
initialisation (zero-initialised output layers make an untouched model's outputs trivially equal)."""

from __future__ import annotations

import jax

from suti.models.text import Tokenizer

CAPTIONS = ["a photo of a mug", "a mug on the beach", "a red ball"]


def tiny_tokenizer() -> Tokenizer:
    return Tokenizer.build(CAPTIONS, max_len=8)


@jax.jit
def perturbed(params):
    """Every parameter plus 0.1 of fixed Gaussian noise (key 5)."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(5), len(leaves))
    return jax.tree.unflatten(treedef, [p + 0.1 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])
