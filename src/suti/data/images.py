"""PNG bytes <-> uint8 arrays, and grids of images for people to look at."""

from __future__ import annotations

import io
import math
from typing import Optional, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from suti.io import atomic_path


def encode_png(image: np.ndarray) -> bytes:
    """uint8 [H, W, 3] -> PNG bytes (fast compression: stage tables favour speed over size)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def decode_image(data: Optional[bytes]) -> Optional[np.ndarray]:
    """Image bytes (PNG, JPEG, ...) -> uint8 [H, W, 3], or None when the bytes do not decode."""
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def square_resize(image: np.ndarray, resolution: int) -> np.ndarray:
    """Centre-crop to a square and resize to `resolution` (Lanczos), as for a photo entering the corpus."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(image[top:top + side, left:left + side])
    if side != resolution:
        crop = crop.resize((resolution, resolution), Image.LANCZOS)
    return np.asarray(crop)


def grid(images: Sequence[np.ndarray], cols: Optional[int] = None, pad: int = 1, scale: int = 1) -> np.ndarray:
    """Tile same-sized uint8 images into one [rows*H, cols*W, 3] image with white padding, upscaled by `scale`."""
    if not images:
        raise ValueError("grid of no images")
    cols = cols or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    h, w = images[0].shape[:2]
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = im
    if scale > 1:
        out = out.repeat(scale, axis=0).repeat(scale, axis=1)
    return out


def save_png(image: np.ndarray, path) -> None:
    """Write a uint8 image as a PNG file, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
