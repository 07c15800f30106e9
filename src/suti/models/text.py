"""Text: a word-level tokenizer with reserved identifier tokens, and a small transformer encoder.

DreamBooth binds a subject to a rare token ("sks"). The tokenizer reserves such identifiers up front, and building
it fails if any caption contains one, so an identifier means nothing until an expert gives it a meaning.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from suti.models.layers import MLP, attend

PAD, BOS, UNK = "[pad]", "[bos]", "[unk]"
SPECIALS = (PAD, BOS, UNK)
IDENTIFIERS = ("sks", "zwx", "qnv", "pfj", "ykd", "bvx", "hqz", "wjt")


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\d+", text.lower())


def check_identifiers_unused(texts: Iterable[str]) -> set[str]:
    """The words of `texts`; raises if any is a reserved identifier (an identifier must mean nothing yet)."""
    seen = {w for t in texts for w in words(t)}
    clash = seen & set(IDENTIFIERS)
    if clash:
        raise ValueError(f"identifier tokens {sorted(clash)} occur in the training text; they must be rare")
    return seen


def load_tokenizer(text: str):
    """The tokenizer stored in a model's meta.json: the word-level `Tokenizer` or the CLIP BPE `ClipTokenizer`."""
    if json.loads(text).get("kind") == "clip_bpe":
        from suti.models.clip_text import ClipTokenizer  # here: clip_text imports this module (IDENTIFIERS)

        return ClipTokenizer.from_json(text)
    return Tokenizer.from_json(text)


@dataclasses.dataclass(frozen=True)
class Tokenizer:
    """Word-level tokenizer: [bos] + words, padded with [pad] (id 0) to `max_len`."""

    vocab: tuple[str, ...]
    max_len: int = 16

    @classmethod
    def build(cls, texts: Iterable[str], max_len: int = 16) -> "Tokenizer":
        """Vocabulary of every word in `texts` (captions plus prompt vocabulary), after specials and identifiers."""
        seen = check_identifiers_unused(texts)
        return cls(vocab=SPECIALS + IDENTIFIERS + tuple(sorted(seen)), max_len=max_len)

    @property
    def size(self) -> int:
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        return 0

    def _index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.vocab)}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """int32 [N, max_len]; unknown words become [unk], long texts are truncated."""
        index = self._index()
        out = np.zeros((len(texts), self.max_len), np.int32)
        for i, text in enumerate(texts):
            ids = [index[BOS]] + [index.get(w, index[UNK]) for w in words(text)]
            ids = ids[: self.max_len]
            out[i, : len(ids)] = ids
        return out

    def to_json(self) -> str:
        return json.dumps({"vocab": list(self.vocab), "max_len": self.max_len})

    @classmethod
    def from_json(cls, text: str) -> "Tokenizer":
        d = json.loads(text)
        return cls(vocab=tuple(d["vocab"]), max_len=int(d["max_len"]))


class TransformerBlock(nnx.Module):
    def __init__(self, dim: int, heads: int, rngs: nnx.Rngs):
        self.heads = heads
        self.norm1 = nnx.LayerNorm(dim, rngs=rngs)
        self.qkv = nnx.Linear(dim, 3 * dim, rngs=rngs)
        self.proj = nnx.Linear(dim, dim, rngs=rngs)
        self.norm2 = nnx.LayerNorm(dim, rngs=rngs)
        self.mlp = MLP(dim, 4 * dim, rngs)

    def __call__(self, x, mask):
        q, k, v = jnp.split(self.qkv(self.norm1(x)), 3, axis=-1)
        x = x + self.proj(attend(q, k, v, self.heads, mask))
        return x + self.mlp(self.norm2(x))


class TextEncoder(nnx.Module):
    """Token ids [B, L] -> context tokens [B, L, dim] and their mask [B, L] (False at padding)."""

    def __init__(self, vocab_size: int, max_len: int, dim: int, layers: int, heads: int, rngs: nnx.Rngs):
        self.embed = nnx.Embed(vocab_size, dim, rngs=rngs)
        self.pos = nnx.Param(jax.random.normal(rngs.params(), (max_len, dim)) * 0.02)
        self.blocks = nnx.List([TransformerBlock(dim, heads, rngs) for _ in range(layers)])
        self.norm = nnx.LayerNorm(dim, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        mask = tokens != 0
        x = self.embed(tokens) + self.pos[None, : tokens.shape[1]]
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x), mask
