"""Config of SuTI's ΔCLIP filter (rules score_samples, filter_samples); the maths is in `suti.scoring.metrics`."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    """Config `filter`: thresholds tau to sweep (None = no filter) and the CLIP-I floor every kept sample needs."""

    taus: tuple[float | None, ...] = (None, 0.0, 0.05, 0.1, 0.2)
    clip_i_floor: float = 0.2
