"""A shard of experts on disk and in use: the stacked deltas (orbax) beside meta.json, loaded onto a base model.

An expert is stored as what it adds to the base: LoRA factors, or (full mode) its weights minus the base's. The
directory never holds a copy of the base; `ExpertShard.load` needs the base model it was trained from.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from suti.config import from_dict
from suti.data.training_set import to_uint8
from suti.diffusion.process import Prediction
from suti.diffusion.samplers import get_sampler, guided
from suti.diffusion.schedules import get_schedule
from suti.experts.training import ExpertConfig, expert_model
from suti.models import lora
from suti.models.pipeline import TextToImagePipeline
from suti.training.checkpoints import export_model, load_meta, load_params
from suti.diffusion.config import SampleConfig


def save_shard(directory: str | Path, deltas, cfg: ExpertConfig, subjects: list[dict], extra: dict) -> None:
    """Write a shard directory atomically. `subjects`: one dict per expert (subject, class_noun, identifier, seed)."""
    # an empty shard (mining found fewer subjects than configured) has meta only: deltas is None
    export_model(directory, deltas if subjects else None, {"expert": cfg, "subjects": subjects, **extra})


def image_seed(seed: int, subject: str, prompt_id: str, index: int) -> int:
    """The seed of one expert sample: a stable function of what it depicts, not of its batch or shard."""
    return zlib.crc32(f"{seed}/{subject}/{prompt_id}/{index}".encode()) & 0x7FFFFFFF


@dataclasses.dataclass
class ExpertShard:
    base: TextToImagePipeline
    cfg: ExpertConfig
    subjects: list[dict]
    graphdef: object           # the model with adapters (lora) or the base graph (full)
    deltas: object             # stacked [K, ...]
    frozen: tuple
    index: int = 0             # the shard's index in the run
    _fns: dict = dataclasses.field(default_factory=dict)   # jitted samplers by (config, batch size)

    @classmethod
    def load(cls, directory: str | Path, base: TextToImagePipeline) -> ExpertShard:
        meta = load_meta(directory)
        cfg = from_dict(ExpertConfig, meta["expert"])
        subjects = meta["subjects"]
        index = int(meta.get("shard", 0))
        if not subjects:
            return cls(base, cfg, [], base.graphdef, None, (), index)
        if cfg.mode == "lora":
            graphdef, like, frozen = expert_model(base.graphdef, base.params, cfg, np.zeros(len(subjects), int))
        else:
            graphdef, frozen = base.graphdef, ()
            like = jax.tree.map(lambda x: jax.ShapeDtypeStruct((len(subjects),) + x.shape, x.dtype), base.params)
        return cls(base, cfg, subjects, graphdef, load_params(directory, like), frozen, index)

    def __len__(self) -> int:
        return len(self.subjects)

    def sample(self, experts: np.ndarray, prompts: list[str], seeds: np.ndarray, cfg: SampleConfig,
               batch_size: int = 32) -> np.ndarray:
        """uint8 [N, H, W, 3]: image i by expert `experts[i]` for `prompts[i]` from seed `seeds[i]` (its own key,
        so an image does not depend on its batch)."""
        tokens = self.base.tokenizer.encode(prompts)
        null = self.base.tokenizer.encode([""])[0]
        if (cfg, batch_size) not in self._fns:
            self._fns[cfg, batch_size] = make_sample_fn(self.graphdef, self.base, cfg, batch_size)
        fn = self._fns[cfg, batch_size]
        out = np.zeros((len(prompts), self.base.resolution, self.base.resolution, 3), np.uint8)
        if self.cfg.mode == "lora":
            groups = [(self.deltas, self.frozen, np.arange(len(prompts)))]
        else:  # full: one expert's weights at a time (a generator: one merged copy in memory)
            groups = ((jax.tree.map(lambda b, d, k=k: b + d[k], self.base.params, self.deltas), (),
                       np.flatnonzero(experts == k)) for k in np.unique(experts))
        for trainable, frozen, rows in groups:
            for i in range(0, len(rows), batch_size):
                idx = rows[np.minimum(np.arange(i, i + batch_size), len(rows) - 1)]  # pad by repeating the last
                ids = experts[idx] if self.cfg.mode == "lora" else np.zeros(batch_size, np.int32)
                keys = jax.vmap(jax.random.key)(jnp.asarray(seeds[idx], jnp.uint32))
                images = fn(trainable, frozen, tokens[idx], np.repeat(null[None], batch_size, 0),
                            jnp.asarray(ids, jnp.int32), keys)
                n = min(batch_size, len(rows) - i)
                out[rows[i:i + n]] = to_uint8(images)[:n]
        return out


def make_sample_fn(graphdef, base: TextToImagePipeline, cfg: SampleConfig, batch_size: int):
    """A jitted sample(trainable, frozen, tokens, null_tokens, expert_ids [B], keys [B]) -> images in [-1, 1]."""
    schedule = get_schedule(base.diffusion_cfg.schedule, base.diffusion_cfg.num_steps)
    prediction = Prediction(base.diffusion_cfg.prediction)
    sampler = get_sampler(cfg.sampler)
    shape = (batch_size, base.resolution, base.resolution, 3)

    @jax.jit
    def sample(trainable, frozen, tokens, null_tokens, expert_ids, keys):
        model = nnx.merge(graphdef, trainable, *frozen)

        def call(x, t, context_and_ids):
            context, ids = context_and_ids
            with lora.routing(ids):
                return model(x, t, context)

        # the expert ids travel with the context, so guidance's doubled batch routes both halves alike
        denoise = guided(call, (model.encode_text(tokens), expert_ids), (model.encode_text(null_tokens), expert_ids),
                         cfg.guidance)
        return sampler(denoise, schedule, prediction, shape, keys, steps=cfg.steps)

    return sample
