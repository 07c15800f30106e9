"""What the text-to-image pipeline and the apprentice's share: an exported model's configs and tokenizer, jitted
samplers built once per (sample config, batch size), and sampling in batches of one compiled shape."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np

from suti.config import from_dict
from suti.data.training_set import to_uint8
from suti.diffusion.config import DiffusionConfig, SampleConfig
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import get_schedule
from suti.errors import SutiError
from suti.models.t2i import ModelConfig
from suti.models.text import Tokenizer, load_tokenizer
from suti.training.checkpoints import load_meta


@dataclasses.dataclass(frozen=True)
class Export:
    """An exported model's meta.json, read: its network and process configs and its tokenizer."""

    meta: dict
    model_cfg: ModelConfig
    diffusion_cfg: DiffusionConfig
    tokenizer: Tokenizer           # or models.clip_text.ClipTokenizer (same interface)

    @classmethod
    def read(cls, directory: str | Path, what: str) -> Export:
        directory = Path(directory)
        if not (directory / "meta.json").exists():
            raise SutiError(f"no exported {what} at {directory} (expected meta.json and params/)")
        meta = load_meta(directory)
        return cls(meta, from_dict(ModelConfig, meta["model"]), from_dict(DiffusionConfig, meta["diffusion"]),
                   load_tokenizer(meta["tokenizer"]))


@dataclasses.dataclass
class DiffusionPipeline:
    """A loaded diffusion model: weights, configs, tokenizer and its compiled samplers."""

    graphdef: object
    params: object
    tokenizer: Tokenizer
    model_cfg: ModelConfig
    diffusion_cfg: DiffusionConfig
    _samplers: dict = dataclasses.field(default_factory=dict, kw_only=True)

    @property
    def resolution(self) -> int:
        return self.model_cfg.unet.resolution

    def sampler(self, make: Callable, cfg: SampleConfig, batch_size: int) -> Callable:
        """The jitted sampler `make(graphdef, schedule, prediction, cfg, shape)` builds, once per (cfg, batch size)."""
        key = (make, cfg, batch_size)
        if key not in self._samplers:
            schedule = get_schedule(self.diffusion_cfg.schedule, self.diffusion_cfg.num_steps)
            shape = (batch_size, self.resolution, self.resolution, 3)
            self._samplers[key] = make(self.graphdef, schedule, Prediction(self.diffusion_cfg.prediction), cfg, shape)
        return self._samplers[key]

    def null_tokens(self, batch_size: int) -> np.ndarray:
        """[batch_size, L] tokens of the empty caption: the unconditional side of guidance."""
        return np.repeat(self.tokenizer.encode([""]), batch_size, axis=0)


def in_batches(sample: Callable, batch_size: int, *rows) -> np.ndarray:
    """uint8 [N, H, W, 3]: `sample(*batch_rows)` over batches of `batch_size` rows of the arrays `rows` (each with N
    rows). The last batch repeats its last row, so one compiled shape serves every batch and image i does not
    depend on the batching."""
    n = len(rows[0])
    out = []
    for i in range(0, n, batch_size):
        idx = np.minimum(np.arange(i, i + batch_size), n - 1)
        out.append(to_uint8(sample(*(r[idx] for r in rows)))[: min(batch_size, n - i)])
    return np.concatenate(out)
