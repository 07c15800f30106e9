"""A trained text-to-image model loaded from its exported directory, ready to sample from prompts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from suti.diffusion.config import SampleConfig
from suti.diffusion.process import Prediction
from suti.diffusion.samplers import get_sampler, guided
from suti.diffusion.schedules import Schedule
from suti.models.inference import DiffusionPipeline, Export, in_batches
from suti.models.t2i import TextToImage
from suti.training.checkpoints import load_params


def make_sample_fn(graphdef, schedule: Schedule, prediction: Prediction, cfg: SampleConfig, shape: tuple):
    """Jitted sample(params, tokens [B,L], null_tokens [B,L], rng) -> images [B,H,W,C] in [-1, 1]."""
    sampler = get_sampler(cfg.sampler)

    @jax.jit
    def sample(params, tokens, null_tokens, rng):
        model = nnx.merge(graphdef, params)
        denoise = guided(model, model.encode_text(tokens), model.encode_text(null_tokens), cfg.guidance)
        return sampler(denoise, schedule, prediction, shape, rng, steps=cfg.steps)

    return sample


@dataclasses.dataclass
class TextToImagePipeline(DiffusionPipeline):
    @classmethod
    def load(cls, directory: str | Path) -> TextToImagePipeline:
        export = Export.read(directory, "model")
        graphdef, like = nnx.split(nnx.eval_shape(
            lambda: TextToImage(export.model_cfg, export.tokenizer.size, nnx.Rngs(0))), nnx.Param)
        return cls(graphdef, load_params(directory, like), export.tokenizer, export.model_cfg, export.diffusion_cfg)

    def sample(self, prompts: list[str], seed: int, cfg: SampleConfig, batch_size: int = 32) -> np.ndarray:
        """uint8 [len(prompts), H, W, 3]. Image i depends only on (prompts[i], seed, i, cfg): not on the batching."""
        return self._sample(prompts, example_keys(seed, len(prompts)), cfg, batch_size)

    def sample_seeds(self, prompts: list[str], seeds: np.ndarray, cfg: SampleConfig, batch_size: int = 32):
        """uint8 [len(prompts), H, W, 3], image i from its own integer seed `seeds[i]`."""
        return self._sample(prompts, jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32)), cfg, batch_size)

    def _sample(self, prompts, keys, cfg: SampleConfig, batch_size: int) -> np.ndarray:
        sample, null = self.sampler(make_sample_fn, cfg, batch_size), self.null_tokens(batch_size)
        return in_batches(lambda tokens, k: sample(self.params, tokens, null, k), batch_size,
                          self.tokenizer.encode(prompts), keys)


def example_keys(seed: int, n: int) -> jax.Array:
    """[n] keys: image i of a sampling call with `seed` uses key i, whatever batch it falls in."""
    return jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(jnp.arange(n))
