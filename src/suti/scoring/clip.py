"""CLIP scoring on open_clip_torch: pretrained models by name and tag, local checkpoints, and our small trained CLIP.

Where the weights come from:
  - `model="ViT-B-32", pretrained="laion2b_s34b_b79k"` (or "openai"): open_clip's registry, through the Hugging Face
    cache. With HF_HUB_OFFLINE=1 and no cached copy, loading fails at once with one line saying how to provide them.
  - `model="ViT-B-32", pretrained="/path/to/weights.bin"`: a checkpoint file on disk for a registry architecture.
  - `model="local-dir:/path"` (or just a directory): an open_clip `local-dir` folder (`open_clip_config.json` + weights),
    the format `train_scorer` writes for the small CLIP trained on the corpus (`suti.scoring.clip_training`).

Every score carries `scorer.id` ("open_clip:<model>:<weights>@<px>px"), so that a number is never separated from the
model that computed it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from suti.config import schema_default
from suti.errors import SutiError
from suti.scoring import registry
from suti.scoring.registry import is_folder, is_registry_name

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """Which CLIP scores (config `scoring.clip`). model "" = the small CLIP trained by `train_scorer`."""

    model: str = schema_default("scoring.clip.model")
    pretrained: str = schema_default("scoring.clip.pretrained")


@contextlib.contextmanager
def _quiet_root_logger():
    """open_clip logs on the root logger (its progress at INFO, download failures at ERROR); we raise one clear
    error instead and keep the stage logs readable."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)


def _directory_hash(path: Path) -> str:
    """Short content hash of a local model folder's weights, so two trained scorers never share an id."""
    digest = hashlib.sha256()
    for f in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        digest.update(f.read_bytes())
    return digest.hexdigest()[:10]


def _folder_label(path: Path) -> str:
    """The model's own name from our meta.json (the trained small CLIP), else the folder name."""
    meta = path / "meta.json"
    return json.loads(meta.read_text()).get("name", path.name) if meta.is_file() else path.name


class ClipScorer:
    """Unit-norm image and text embeddings from an open_clip model, computed in batches under no_grad."""

    def __init__(self, model: str, pretrained: str = "", device: str = "cpu", batch_size: int = 256,
                 key: str = "scoring.clip.model"):
        """key: the config key that named this model, for error messages."""
        local = model.removeprefix("local-dir:")
        folder = is_folder(model)
        if folder and not (Path(local) / CONFIG_FILE).is_file():
            raise SutiError(f"{key}: {local} is not an open_clip model folder (no {CONFIG_FILE})")
        if not folder:  # a bad name or absent weights fail here, in a second, before torch is imported
            registry.require_open_clip_weights(model, pretrained, key)
        import open_clip  # heavy (torch): imported only where CLIP is actually used
        import torch

        self._torch, self.batch_size, self.device = torch, batch_size, device
        if folder:
            name, weights = f"local-dir:{local}", f"local:{_directory_hash(Path(local))}"
            label, pretrained = _folder_label(Path(local)), None
        else:
            name, label = model, model
            weights = (f"file:{Path(pretrained).name}" if pretrained and Path(pretrained).is_file()
                       else pretrained or "random")
        try:
            with _quiet_root_logger():
                self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                    name, pretrained=pretrained or None, device=device)
        except RuntimeError as err:
            if "download" in str(err).lower() or "cache" in str(err).lower():
                raise SutiError(registry.missing_weights_message(model, pretrained, key)) from None
            raise
        self.model.eval()
        with _quiet_root_logger():
            self.tokenizer = open_clip.get_tokenizer(name)
        if folder:  # a CLIP over a subset of the BPE tokens (the evaluation CLIP) renumbers them
            from suti.scoring.clip_training import Vocabulary

            vocabulary = Vocabulary.read(local)
            if vocabulary is not None:
                bpe = self.tokenizer
                self.tokenizer = lambda texts: vocabulary(bpe(texts))
        self.image_size = int(self.model.visual.image_size[0] if isinstance(self.model.visual.image_size, tuple)
                              else self.model.visual.image_size)
        self.id = f"open_clip:{label}:{weights}@{self.image_size}px"

    def embed_images(self, images_u8: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] -> float32 [N, D] unit rows (open_clip's own preprocessing: resize, crop, normalise)."""
        from PIL import Image

        out = []
        for i in range(0, len(images_u8), self.batch_size):
            batch = self._torch.stack([self.preprocess(Image.fromarray(im)) for im in images_u8[i:i + self.batch_size]])
            with self._torch.no_grad():
                out.append(self.model.encode_image(batch.to(self.device), normalize=True).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """[N] strings -> float32 [N, D] unit rows."""
        out = []
        for i in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(list(texts[i:i + self.batch_size])).to(self.device)
            with self._torch.no_grad():
                out.append(self.model.encode_text(tokens, normalize=True).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    @property
    def dim(self) -> int:
        return int(self.model.text_projection.shape[1] if hasattr(self.model, "text_projection")
                   else self.model.visual.output_dim)


def load_clip(spec: ClipSpec, trained_dir: str | None = None, device: str = "cpu") -> ClipScorer:
    """The configured scorer: `spec.model`, or (model "") the small CLIP `train_scorer` wrote to `trained_dir`."""
    if spec.model:
        return ClipScorer(spec.model, spec.pretrained, device)
    if not trained_dir:
        raise SutiError("scoring.clip.model is empty (= the trained small CLIP) but no trained scorer was given "
                        "(--scorer results/scorer/model)")
    return ClipScorer(f"local-dir:{trained_dir}", device=device)
