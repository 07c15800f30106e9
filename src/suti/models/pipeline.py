"""A trained text-to-image model loaded from its exported directory, ready to sample from prompts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from suti.config import from_dict
from suti.data.training_set import to_uint8
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import get_schedule
from suti.errors import SutiError
from suti.models.t2i import ModelConfig, TextToImage
from suti.models.text import Tokenizer, load_tokenizer
from suti.training.checkpoints import load_meta, load_params
from suti.training.config import DiffusionConfig, SampleConfig
from suti.training.t2i import make_sample_fn


@dataclasses.dataclass
class TextToImagePipeline:
    graphdef: object
    params: object
    tokenizer: Tokenizer          # or models.clip_text.ClipTokenizer (same interface)
    model_cfg: ModelConfig
    diffusion_cfg: DiffusionConfig
    _samplers: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, directory: str | Path) -> TextToImagePipeline:
        directory = Path(directory)
        if not (directory / "meta.json").exists():
            raise SutiError(f"no exported model at {directory} (expected meta.json and params/)")
        meta = load_meta(directory)
        model_cfg = from_dict(ModelConfig, meta["model"])
        tokenizer = load_tokenizer(meta["tokenizer"])
        graphdef, like = nnx.split(nnx.eval_shape(lambda: TextToImage(model_cfg, tokenizer.size, nnx.Rngs(0))),
                                   nnx.Param)
        params = load_params(directory, like)
        return cls(graphdef, params, tokenizer, model_cfg, from_dict(DiffusionConfig, meta["diffusion"]))

    @property
    def resolution(self) -> int:
        return self.model_cfg.unet.resolution

    def sample(self, prompts: list[str], seed: int, cfg: SampleConfig, batch_size: int = 32) -> np.ndarray:
        """uint8 [len(prompts), H, W, 3]. Image i depends only on (prompts[i], seed, i, cfg): not on the batching."""
        return self._sample(prompts, example_keys(seed, len(prompts)), cfg, batch_size)

    def sample_seeds(self, prompts: list[str], seeds: np.ndarray, cfg: SampleConfig, batch_size: int = 32):
        """uint8 [len(prompts), H, W, 3], image i from its own integer seed `seeds[i]`."""
        return self._sample(prompts, jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32)), cfg, batch_size)

    def _sample(self, prompts, keys, cfg: SampleConfig, batch_size: int) -> np.ndarray:
        key = (cfg, batch_size)
        if key not in self._samplers:
            shape = (batch_size, self.resolution, self.resolution, 3)
            schedule = get_schedule(self.diffusion_cfg.schedule, self.diffusion_cfg.num_steps)
            self._samplers[key] = make_sample_fn(self.graphdef, schedule, Prediction(self.diffusion_cfg.prediction),
                                                 cfg, shape)
        sample = self._samplers[key]
        tokens = self.tokenizer.encode(prompts)
        null = np.repeat(self.tokenizer.encode([""]), batch_size, axis=0)
        out = []
        for i in range(0, len(prompts), batch_size):
            idx = np.minimum(np.arange(i, i + batch_size), len(prompts) - 1)  # the last batch repeats its last row
            images = sample(self.params, tokens[idx], null, keys[idx])
            out.append(to_uint8(images)[: min(batch_size, len(prompts) - i)])
        return np.concatenate(out)


def example_keys(seed: int, n: int) -> jax.Array:
    """[n] keys: image i of a sampling call with `seed` uses key i, whatever batch it falls in."""
    return jax.vmap(lambda i: jax.random.fold_in(jax.random.key(seed), i))(jnp.arange(n))
