"""DINO subject fidelity (DreamBench's DINO metric): ViT-S/16 self-supervised by DINO, through timm.

The weights come from timm's Hugging Face cache or a local file (`scoring.dino.weights`). When neither is there,
`load_dino` returns a `Missing` with the reason, and every DINO value is missing with that reason: DINO is never
computed by another model under the DINO name.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from suti.config import schema_default
from suti.errors import SutiError
from suti.scoring import registry

DEFAULT_MODEL = "vit_small_patch16_224.dino"


@dataclasses.dataclass(frozen=True)
class DinoSpec:
    """Config `scoring.dino`: the timm model name, and a local weights file ("" = timm's hub cache)."""

    model: str = schema_default("scoring.dino.model")
    weights: str = schema_default("scoring.dino.weights")


@dataclasses.dataclass(frozen=True)
class Missing:
    """A scorer that could not be loaded: its values are missing with `reason`."""

    reason: str
    id: str = ""


class DinoScorer:
    """Unit-norm CLS-token features of DINO ViT-S/16 with timm's own preprocessing for the model."""

    def __init__(self, spec: DinoSpec, device: str = "cpu", batch_size: int = 64):
        import timm
        import torch

        overlay = dict(file=spec.weights) if spec.weights else None
        self.model = timm.create_model(spec.model, pretrained=True, num_classes=0, pretrained_cfg_overlay=overlay)
        self.model.eval().to(device)
        data_cfg = timm.data.resolve_data_config({}, model=self.model)
        self.transform = timm.data.create_transform(**data_cfg)
        self._torch, self.device, self.batch_size = torch, device, batch_size
        source = (f"file:{Path(spec.weights).name}:{_file_hash(spec.weights)}" if spec.weights else "hub")
        self.id = f"timm:{spec.model}:{source}@{data_cfg['input_size'][-1]}px"

    def embed_images(self, images_u8: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] -> float32 [N, D] unit rows."""
        from PIL import Image

        out = []
        for i in range(0, len(images_u8), self.batch_size):
            batch = self._torch.stack([self.transform(Image.fromarray(im)) for im in images_u8[i:i + self.batch_size]])
            with self._torch.no_grad():
                feats = self.model(batch.to(self.device)).float()
            out.append(self._torch.nn.functional.normalize(feats, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.num_features), np.float32)


def _file_hash(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:10]


def load_dino(spec: DinoSpec, device: str = "cpu") -> DinoScorer | Missing:
    """The DINO scorer, or `Missing(reason)` when its weights are not on this machine."""
    if spec.weights and not Path(spec.weights).is_file():
        return Missing(f"DINO weights file {spec.weights} (scoring.dino.weights) does not exist")
    if not spec.weights and registry.offline() and registry.timm_weights_present(spec.model) is False:
        return Missing(_no_weights(spec.model, "not in the Hugging Face cache"))  # without building the model
    import timm

    if not timm.is_model(spec.model):
        raise SutiError(f"scoring.dino.model: unknown timm model {spec.model!r}")
    try:
        return DinoScorer(spec, device)
    except OSError as err:  # the hub's "not in the local cache" errors are OSErrors
        if spec.weights:
            raise
        return Missing(_no_weights(spec.model, type(err).__name__))


def _no_weights(model: str, why: str) -> str:
    return (f"no cached weights for timm {model} (offline: {why}); download them on a connected machine with "
            f"timm.create_model('{model}', pretrained=True) and copy ~/.cache/huggingface here, or set "
            f"scoring.dino.weights to a local file")
