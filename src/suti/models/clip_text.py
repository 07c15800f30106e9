"""A frozen CLIP text tower in JAX: open_clip's text transformer, read from an open_clip `local-dir` folder (the small
CLIP that `train_scorer` writes, or any open_clip model exported the same way) or from open_clip's registry
("ViT-B-32:laion2b_s34b_b79k", pretrained weights through the Hugging Face cache).

Why: the base model's jointly trained text encoder does not separate colour words within the CPU budget (pooled
captions that differ only in colour: cosine 0.90), while the contrastively trained CLIP tower does (0.48). In a
trial at the default budget, conditioning the base model on these frozen features (with a patch-2 UNet) lifted the
prompted colour from chance (0.09) to 0.81. Imagen and Stable Diffusion condition on frozen text towers
for the same reason. This module is the tower alone; its weights are plain arrays, never trained parameters.

`features(weights, tokens)` matches open_clip's `encode_text` up to `ln_final` (all positions), `pooled` its
projected end-of-text feature; tokens come from open_clip's tokenizer (`tokenize`).

Inside the text-to-image model (`ModelConfig.text_encoder = "clip"`) the tower is a `ClipTextEncoder` over a compact
vocabulary (`ClipTokenizer`): only the BPE rows that the training text, the prompts and the identifiers use, so a
model carries a few hundred token rows instead of 49,408.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from suti.errors import SutiError
from suti.models.layers import FrozenParam
from suti.models.text import IDENTIFIERS, check_identifiers_unused
from suti.scoring import registry
from suti.scoring.bpe import bpe_tokenize
from suti.scoring.clip import CONFIG_FILE, WEIGHTS_FILE, ClipScorer
from suti.scoring.registry import is_registry_name

BPE_VOCAB = 49408   # open_clip's default BPE tokenizer (SimpleTokenizer): start-of-text 49406, end-of-text 49407


@dataclasses.dataclass(frozen=True)
class ClipTextTower:
    weights: dict            # name -> array, open_clip's state-dict names (text tower only)
    heads: int
    layers: int
    source: str              # where it was read from: a folder, or MODEL:PRETRAINED

    @property
    def width(self) -> int:
        return int(self.weights["positional_embedding"].shape[1])

    @classmethod
    def load(cls, source: str | Path) -> ClipTextTower:
        """The text tower of an open_clip `local-dir` folder (open_clip_config.json + safetensors weights, as
        `train_scorer` writes), or of an open_clip registry model "MODEL:PRETRAINED" (e.g.
        "ViT-B-32:laion2b_s34b_b79k", weights through the Hugging Face cache, as `scoring.clip` loads them)."""
        if is_registry_name(str(source)):
            return cls._from_registry(*str(source).split(":", 1))
        from safetensors.numpy import load_file

        source = str(source).removeprefix("local-dir:")
        folder = Path(source)
        if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
            raise SutiError(f"{folder} is not an open_clip model folder ({CONFIG_FILE} and {WEIGHTS_FILE} needed)")
        text_cfg = _checked_text_cfg(json.loads((folder / CONFIG_FILE).read_text())["model_cfg"]["text_cfg"], source)
        weights = _text_weights_of(load_file(str(folder / WEIGHTS_FILE)))
        return cls(weights, heads=int(text_cfg["heads"]), layers=int(text_cfg["layers"]), source=source)

    @classmethod
    def _from_registry(cls, model: str, pretrained: str) -> ClipTextTower:
        registry.require_open_clip_weights(model, pretrained, "base.text_tower")  # in a second, before torch
        import open_clip  # heavy (torch): only for a registry tower

        config = open_clip.get_model_config(model)
        if config is None or "text_cfg" not in config:
            raise SutiError(f"base.text_tower: unknown open_clip model {model!r} (see open_clip.list_models())")
        text_cfg = _checked_text_cfg(config["text_cfg"], model)
        # offline without the weights: one line saying how to provide them
        torch_model = ClipScorer(model, pretrained, key="base.text_tower").model
        weights = _text_weights_of({k: v.detach().cpu().float().numpy() for k, v in torch_model.state_dict().items()})
        return cls(weights, heads=int(text_cfg.get("heads", 8)), layers=int(text_cfg["layers"]),
                   source=f"{model}:{pretrained}")

    @classmethod
    def random(cls, width: int, layers: int, heads: int, context_length: int, seed: int = 0) -> ClipTextTower:
        """A tower of the given shape with random weights (benchmarks time it; its features mean nothing)."""
        shapes = dict(text_weight_shapes(BPE_VOCAB, context_length, width, layers), text_projection=(width, width))
        keys = jax.random.split(jax.random.key(seed), len(shapes))
        weights = {name: (jnp.ones(shape) if name.endswith("ln_1.weight") or name.endswith("ln_2.weight")
                          or name == "ln_final.weight" else 0.02 * jax.random.normal(key, shape))
                   for key, (name, shape) in zip(keys, shapes.items())}
        return cls(weights, heads=heads, layers=layers, source="random")

    def tokenize(self, texts: list[str]) -> np.ndarray:
        """int32 [N, context_length]: open_clip's BPE tokenizer ([sot] ... [eot], zero-padded)."""
        return bpe_tokenize(texts, self.context_length).astype(np.int32)

    def __call__(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Context tokens [B, L, width] and their mask [B, L] (True up to and including end-of-text)."""
        return features(self.weights, tokens, self.heads, self.layers), end_of_text_mask(tokens)

    @property
    def context_length(self) -> int:
        return int(self.weights["positional_embedding"].shape[0])

    def text_weights(self, tokenizer: ClipTokenizer) -> dict:
        """The weights a `ClipTextEncoder` holds: token rows of `tokenizer`'s compact vocabulary, no projection."""
        weights = {k: v for k, v in self.weights.items() if k != "text_projection"}
        weights["token_embedding.weight"] = tokenizer.embedding_rows(np.asarray(weights["token_embedding.weight"]))
        return weights

    def pooled(self, tokens: jax.Array) -> jax.Array:
        """open_clip's (unnormalised) text embedding [B, embed_dim]: the end-of-text feature, projected."""
        x = features(self.weights, tokens, self.heads, self.layers)
        return x[jnp.arange(tokens.shape[0]), jnp.argmax(tokens, axis=-1)] @ self.weights["text_projection"]


def _text_weights_of(state: dict) -> dict:
    """The text tower's arrays of an open_clip state dict (no image tower, no logit scale)."""
    return {k: jnp.asarray(v) for k, v in state.items() if not k.startswith("visual.") and k != "logit_scale"}


def _checked_text_cfg(text_cfg: dict, source: str) -> dict:
    if text_cfg.get("hf_tokenizer_name") or int(text_cfg.get("vocab_size", BPE_VOCAB)) != BPE_VOCAB:
        raise SutiError(f"{source}: only text towers with open_clip's default BPE tokenizer are supported")
    return text_cfg


def end_of_text_mask(tokens: jax.Array) -> jax.Array:
    """True at positions up to the end-of-text token (the highest id in each row, as open_clip pools)."""
    eot = jnp.argmax(tokens, axis=-1)
    return jnp.arange(tokens.shape[1])[None] <= eot[:, None]


def _layer_norm(x, w, prefix: str, eps: float = 1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps) * w[f"{prefix}.weight"] + w[f"{prefix}.bias"]


def _linear(x, w, prefix: str):
    return x @ w[f"{prefix}.weight"].T + w[f"{prefix}.bias"]


def _causal_attention(x, w, prefix: str, heads: int):
    b, n, c = x.shape
    qkv = x @ w[f"{prefix}.in_proj_weight"].T + w[f"{prefix}.in_proj_bias"]
    q, k, v = (t.reshape(b, n, heads, c // heads) for t in jnp.split(qkv, 3, axis=-1))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(c // heads)
    causal = jnp.tril(jnp.ones((n, n), bool))
    weights = jax.nn.softmax(jnp.where(causal, logits, -jnp.inf), axis=-1)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, n, c)
    return _linear(out, w, f"{prefix}.out_proj")


def features(w: dict, tokens: jax.Array, heads: int, layers: int) -> jax.Array:
    """open_clip's text transformer up to ln_final: [B, L] token ids -> [B, L, width]."""
    x = w["token_embedding.weight"][tokens] + w["positional_embedding"][: tokens.shape[1]]
    for i in range(layers):
        p = f"transformer.resblocks.{i}"
        x = x + _causal_attention(_layer_norm(x, w, f"{p}.ln_1"), w, f"{p}.attn", heads)
        h = jax.nn.gelu(_linear(_layer_norm(x, w, f"{p}.ln_2"), w, f"{p}.mlp.c_fc"), approximate=False)
        x = x + _linear(h, w, f"{p}.mlp.c_proj")
    return _layer_norm(x, w, "ln_final")


@dataclasses.dataclass(frozen=True)
class ClipTokenizer:
    """open_clip's BPE tokenizer over a compact vocabulary: id 0 is padding, 1 a BPE token outside the kept ones
    (its row: the mean token embedding), then the kept BPE ids in BPE order, so end-of-text keeps the highest id
    (where CLIP pools and where the context mask ends)."""

    bpe_ids: tuple[int, ...]   # kept BPE ids, ascending, 0 excluded
    max_len: int = 16

    @classmethod
    def build(cls, texts, max_len: int = 16) -> ClipTokenizer:
        """Keep every BPE id of `texts` (captions plus prompt vocabulary) and of the reserved identifiers."""
        texts = list(texts)
        check_identifiers_unused(texts)
        ids = np.unique(bpe_tokenize(texts + [" ".join(IDENTIFIERS), ""], max_len))
        return cls(bpe_ids=tuple(int(i) for i in ids if i != 0), max_len=max_len)

    @property
    def size(self) -> int:
        return len(self.bpe_ids) + 2

    @property
    def pad_id(self) -> int:
        return 0

    def encode(self, texts) -> np.ndarray:
        """int32 [N, max_len] compact ids."""
        bpe = bpe_tokenize(texts, self.max_len)
        kept = np.asarray(self.bpe_ids)
        pos = np.minimum(np.searchsorted(kept, bpe), len(kept) - 1)
        return np.where(bpe == 0, 0, np.where(kept[pos] == bpe, pos + 2, 1)).astype(np.int32)

    def embedding_rows(self, table: np.ndarray) -> np.ndarray:
        """[size, width] rows of a full BPE token table [49408, width], in compact order."""
        return np.concatenate([table[:1], table.mean(0, keepdims=True), table[list(self.bpe_ids)]])

    def to_json(self) -> str:
        return json.dumps({"kind": "clip_bpe", "bpe_ids": list(self.bpe_ids), "max_len": self.max_len})

    @classmethod
    def from_json(cls, text: str) -> ClipTokenizer:
        d = json.loads(text)
        return cls(bpe_ids=tuple(d["bpe_ids"]), max_len=int(d["max_len"]))


def text_weight_shapes(vocab_size: int, context_length: int, width: int, layers: int) -> dict:
    """name -> shape of a text tower's weights (open_clip's names, MLP ratio 4, no projection)."""
    shapes = {"token_embedding.weight": (vocab_size, width), "positional_embedding": (context_length, width),
              "ln_final.weight": (width,), "ln_final.bias": (width,)}
    for i in range(layers):
        p = f"transformer.resblocks.{i}"
        shapes.update({f"{p}.ln_1.weight": (width,), f"{p}.ln_1.bias": (width,),
                       f"{p}.attn.in_proj_weight": (3 * width, width), f"{p}.attn.in_proj_bias": (3 * width,),
                       f"{p}.attn.out_proj.weight": (width, width), f"{p}.attn.out_proj.bias": (width,),
                       f"{p}.ln_2.weight": (width,), f"{p}.ln_2.bias": (width,),
                       f"{p}.mlp.c_fc.weight": (4 * width, width), f"{p}.mlp.c_fc.bias": (4 * width,),
                       f"{p}.mlp.c_proj.weight": (width, 4 * width), f"{p}.mlp.c_proj.bias": (width,)})
    return shapes


class ClipTextEncoder(nnx.Module):
    """The text encoder of a text-to-image model conditioned on a frozen CLIP text tower: compact token ids [B, L]
    -> every position's feature after ln_final [B, L, width] and a mask up to end-of-text. Its weights are
    `FrozenParam`s read behind `stop_gradient`: no optimiser moves them and no backward pass runs through them.
    Built with zeros of the right shapes; `assign` puts a tower's weights in (`ClipTextTower.text_weights`)."""

    def __init__(self, vocab_size: int, context_length: int, width: int, layers: int, heads: int):
        self.heads, self.layers = heads, layers
        self.weights = nnx.Dict({k: FrozenParam(jnp.zeros(shape)) for k, shape in
                                 text_weight_shapes(vocab_size, context_length, width, layers).items()})

    def assign(self, weights: dict) -> None:
        for name, variable in self.weights.items():
            value = weights.get(name)
            if value is None or tuple(value.shape) != tuple(variable.shape):
                got = "missing" if value is None else tuple(value.shape)
                raise SutiError(f"text tower weight {name}: expected shape {tuple(variable.shape)}, got {got}")
            variable[...] = jnp.asarray(value, jnp.float32)

    def __call__(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        w = {name: jax.lax.stop_gradient(variable[...]) for name, variable in self.weights.items()}
        return features(w, tokens, self.heads, self.layers), end_of_text_mask(tokens)
