"""The apprentice's demonstration encoder: a frozen CLIP image tower (the scorer's, `scoring.clip`), optionally
followed by the demonstration's own pixels at the model's resolution (`apprentice.demo_patch`), which the apprentice
cuts into patch tokens. A demonstration's features are one vector: [CLIP embedding (E), pixels in [-1, 1] (R*R*3)].

It is part of the apprentice as much as its weights are: an exported apprentice keeps a copy of a local CLIP folder
(or the open_clip registry name of a named one) under `demo_encoder/`, and loading the apprentice loads it. The
released apprentice points at the released CLIP beside it instead of a copy (`share`), checked on load.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from suti.data.images import square_resize
from suti.errors import SutiError
from suti.scoring.clip import ClipScorer, ClipSpec, load_clip

FOLDER = "demo_encoder"
SPEC_FILE = "spec.json"


class DemoEncoder:
    """images uint8 [N, H, W, 3] -> float32 [N, E + R*R*3]: unit CLIP image embeddings, then (pixels = R > 0) the
    images resized to R x R, in [-1, 1]."""

    def __init__(self, clip: ClipScorer, spec: ClipSpec, folder: str | None, pixels: int = 0):
        self.clip, self.spec, self.folder, self.pixels = clip, spec, folder, pixels

    @classmethod
    def load(cls, spec: ClipSpec, trained_dir: str | None = None, pixels: int = 0) -> DemoEncoder:
        """The configured CLIP (`scoring.clip`; model "" = the small CLIP in `trained_dir`), plus pixels at R x R."""
        return cls(load_clip(spec, trained_dir), spec, None if spec.model else str(trained_dir), pixels)

    @property
    def dim(self) -> int:
        return self.clip.dim + 3 * self.pixels ** 2

    @property
    def id(self) -> str:
        return self.clip.id + (f"+pixels@{self.pixels}px" if self.pixels else "")

    def __call__(self, images_u8: np.ndarray) -> np.ndarray:
        embeddings = self.clip.embed_images(images_u8).astype(np.float32)
        if not self.pixels:
            return embeddings
        r = self.pixels
        pixels = np.stack([im if im.shape[:2] == (r, r) else square_resize(im, r) for im in images_u8])
        pixels = pixels.reshape(len(images_u8), -1).astype(np.float32) / 127.5 - 1.0
        return np.concatenate([embeddings, pixels], axis=1)

    def save(self, export_dir: str | Path) -> None:
        """Into an apprentice's export folder: the CLIP folder itself, or the registry name to load."""
        target = Path(export_dir) / FOLDER
        if self.folder is not None:
            shutil.copytree(str(self.folder).removeprefix("local-dir:"), target / "model")
        else:
            target.mkdir(parents=True)
        (target / SPEC_FILE).write_text(json.dumps({"model": self.spec.model, "pretrained": self.spec.pretrained,
                                                    "pixels": self.pixels, "id": self.id}, indent=2))

    @classmethod
    def read(cls, export_dir: str | Path) -> DemoEncoder:
        """The encoder an apprentice was trained with (see `save`, `share`)."""
        folder = Path(export_dir) / FOLDER
        if not (folder / SPEC_FILE).is_file():
            raise SutiError(f"{export_dir}: no {FOLDER}/{SPEC_FILE}; this apprentice was exported by an older suti, "
                            "retrain it")
        saved = json.loads((folder / SPEC_FILE).read_text())
        spec = ClipSpec(model=saved["model"], pretrained=saved["pretrained"])
        local = (folder / saved["shared"]).resolve() if "shared" in saved else folder / "model"
        encoder = cls.load(spec, str(local) if not spec.model else None, int(saved.get("pixels", 0)))
        if "shared" in saved and encoder.id != saved["id"]:
            raise SutiError(f"{export_dir}: its demonstration encoder {local} is not the CLIP it was trained with "
                            f"({encoder.id}, trained with {saved['id']}); re-release the apprentice")
        return encoder

    @classmethod
    def share(cls, export_dir: str | Path, clip_dir: str | Path) -> None:
        """Replace an exported apprentice's copy of its local CLIP with a pointer to `clip_dir`, the same CLIP
        released beside it (pretrained/clip), so a release does not carry it twice; `read` checks it is the same."""
        folder = Path(export_dir) / FOLDER
        saved = json.loads((folder / SPEC_FILE).read_text())
        shared = cls.load(ClipSpec(), str(clip_dir), int(saved.get("pixels", 0))).id
        if saved["model"] or shared != saved["id"]:
            raise SutiError(f"{export_dir}: its demonstration encoder ({saved['id']}) is not the CLIP at {clip_dir} "
                            f"({shared})")
        shutil.rmtree(folder / "model")
        saved["shared"] = os.path.relpath(Path(clip_dir).resolve(), folder.resolve())
        (folder / SPEC_FILE).write_text(json.dumps(saved, indent=2))
