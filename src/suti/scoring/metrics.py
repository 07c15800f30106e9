"""Embedding metrics (pure numpy on unit-norm rows): CLIP-T, CLIP-I / DINO, and SuTI's ΔCLIP filter.

- CLIP-T(image, prompt) = cos(image embedding, text embedding), the prompt written with the class noun.
- CLIP-I(image, subject) = mean cosine between the image and each real image of the subject (DINO: same, DINO
  features). DreamBench's definition; for a real image scored against its own subject (the oracle), the image itself
  is left out.
- ΔCLIP(sample) = CLIP-T(sample, prompt) - mean CLIP-T(subject's own images, prompt): positive when the expert moved
  the subject into the prompted context rather than copying its training images.
"""

from __future__ import annotations

import numpy as np


def clip_t(images: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Row-wise cosine: images [N, D] vs texts [N, D] -> [N]."""
    return np.sum(images * texts, axis=-1)


def mean_similarity(images: np.ndarray, references: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Mean cosine of each image [N, D] to a reference set [M, D] -> [N]. `exclude` [N] (index into references or
    -1): that reference is left out of the image's mean (leave-one-out for real images)."""
    sims = images @ references.T  # [N, M]
    if exclude is None:
        return sims.mean(axis=1)
    mask = np.ones_like(sims, dtype=bool)
    rows = np.flatnonzero(exclude >= 0)
    mask[rows, exclude[rows]] = False
    counts = mask.sum(axis=1)
    return np.where(counts > 0, (sims * mask).sum(axis=1) / np.maximum(counts, 1), np.nan)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [N, D] and [M, D] (FID's formula):
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^1/2). The trace of the square root is the sum of the square roots of
    the eigenvalues of S_a S_b (real and non-negative up to rounding), which avoids a matrix square root."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.sqrt(np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * root)


def delta_clip(sample_clip_t: np.ndarray, subject_images: np.ndarray, prompt_texts: np.ndarray) -> tuple[np.ndarray,
                                                                                                          np.ndarray]:
    """(ΔCLIP [N], reference CLIP-T [N]): samples' CLIP-T minus the mean CLIP-T of the subject's own images [M, D]
    for the same prompts [N, D]."""
    reference = (prompt_texts @ subject_images.T).mean(axis=1)
    return sample_clip_t - reference, reference


def keep_mask(delta: np.ndarray, clip_i: np.ndarray, tau: float | None, clip_i_floor: float) -> np.ndarray:
    """SuTI's filter: keep a sample when ΔCLIP >= tau and CLIP-I >= the floor; tau None ("no filter") keeps all."""
    if tau is None:
        return np.ones(len(delta), dtype=bool)
    return (delta >= tau) & (clip_i >= clip_i_floor)


TAU_PATTERN = r"none|\d+\.\d{3}"  # what tau_name writes: the {tau} wildcard


def tau_name(tau: float | None) -> str:
    """The tau wildcard: "none" (no filter) or the value with 3 decimals ("0.010")."""
    return "none" if tau is None else f"{tau:.3f}"


def parse_tau(name: str) -> float | None:
    return None if name == "none" else float(name)
