"""open_clip's BPE tokenizer (`SimpleTokenizer`, as `open_clip.get_tokenizer("ViT-B-32")` builds it), memoised word by
word.

Why: open_clip cleans every caption with ftfy and runs the regex and BPE again each time, ~700 captions/s on one
core. The CLIP's pretraining stream tokenizes fresh captions every step, which cost as much time as rendering them.
SynthBench's captions use a few dozen words, so each whitespace-separated word is encoded once and the ids are
joined. That gives open_clip's ids only where its cleaning (ftfy, HTML unescaping) can neither join nor split words:
printable ASCII without '&'. Other text is encoded whole, as open_clip does (a test compares both paths with
open_clip on the world's captions, prompts and odd strings).
"""

from __future__ import annotations

import functools
import itertools
import re

import numpy as np


@functools.lru_cache(maxsize=None)
def _tokenizer():
    import open_clip  # torch-backed; imported only where text is tokenized

    return open_clip.tokenizer.SimpleTokenizer()


SAFE = re.compile(r"[ -%'-~\t\n\r]*")  # printable ASCII and plain whitespace, no '&': cleaning keeps words apart


@functools.lru_cache(maxsize=1 << 16)
def _word_ids(word: str) -> tuple[int, ...]:
    return tuple(_tokenizer().encode(word))


def _ids(text: str) -> list[int]:
    if SAFE.fullmatch(text):
        return list(itertools.chain.from_iterable(_word_ids(w) for w in text.split()))
    return _tokenizer().encode(text)


def bpe_tokenize(texts, context_length: int) -> np.ndarray:
    """int64 [N, context_length]: [sot] ids [eot], zero-padded; a longer text is cut to end in [eot], as open_clip."""
    tok = _tokenizer()
    texts = list(texts)
    out = np.zeros((len(texts), context_length), np.int64)
    for row, text in zip(out, texts):
        ids = [tok.sot_token_id, *_ids(text), tok.eot_token_id]
        if len(ids) > context_length:
            ids = ids[:context_length]
            ids[-1] = tok.eot_token_id
        row[:len(ids)] = ids
    return out
