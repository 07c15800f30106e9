"""A frozen CLIP text tower in JAX: open_clip's text transformer, read from an open_clip `local-dir` folder (the small
CLIP that `train_scorer` writes, or any open_clip model exported the same way).

Why: the base model's jointly trained text encoder does not separate colour words within the CPU budget (pooled
captions that differ only in colour: cosine 0.90), while the contrastively trained CLIP tower does (0.48). In a
trial at the default budget, conditioning the base model on these frozen features (with a patch-2 UNet) lifted the
prompted colour from chance (0.09) to 0.81 (issue 3). Imagen and Stable Diffusion condition on frozen text towers
for the same reason. This module is the tower alone; its weights are plain arrays, never trained parameters.

`features(weights, tokens)` matches open_clip's `encode_text` up to `ln_final` (all positions), `pooled` its
projected end-of-text feature; tokens come from open_clip's tokenizer (`tokenize`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from suti.errors import SutiError
from suti.scoring.clip import CONFIG_FILE, WEIGHTS_FILE


@dataclasses.dataclass(frozen=True)
class ClipTextTower:
    weights: dict            # name -> array, open_clip's state-dict names (text tower only)
    heads: int
    layers: int
    folder: str              # where it was read from (its tokenizer is the folder's own)

    @property
    def width(self) -> int:
        return int(self.weights["positional_embedding"].shape[1])

    @classmethod
    def load(cls, folder: str | Path) -> ClipTextTower:
        """The text tower of an open_clip `local-dir` folder (open_clip_config.json + safetensors weights)."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        if not (folder / CONFIG_FILE).is_file() or not (folder / WEIGHTS_FILE).is_file():
            raise SutiError(f"{folder} is not an open_clip model folder ({CONFIG_FILE} and {WEIGHTS_FILE} needed)")
        text_cfg = json.loads((folder / CONFIG_FILE).read_text())["model_cfg"]["text_cfg"]
        weights = {k: jnp.asarray(v) for k, v in load_file(str(folder / WEIGHTS_FILE)).items()
                   if not k.startswith("visual.") and k != "logit_scale"}
        return cls(weights, heads=int(text_cfg["heads"]), layers=int(text_cfg["layers"]), folder=str(folder))

    def tokenize(self, texts: list[str]) -> np.ndarray:
        """int32 [N, context_length]: the folder's open_clip tokenizer ([sot] ... [eot], zero-padded)."""
        import open_clip  # torch-backed tokenizer; only needed where text is tokenized

        return open_clip.get_tokenizer(f"local-dir:{self.folder}")(texts).numpy().astype(np.int32)

    def __call__(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Context tokens [B, L, width] and their mask [B, L] (True up to and including end-of-text)."""
        return features(self.weights, tokens, self.heads, self.layers), end_of_text_mask(tokens)

    def pooled(self, tokens: jax.Array) -> jax.Array:
        """open_clip's (unnormalised) text embedding [B, embed_dim]: the end-of-text feature, projected."""
        x = features(self.weights, tokens, self.heads, self.layers)
        return x[jnp.arange(tokens.shape[0]), jnp.argmax(tokens, axis=-1)] @ self.weights["text_projection"]


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
