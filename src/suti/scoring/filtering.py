"""Config of SuTI's ΔCLIP filter (rules score_samples, filter_samples); the maths is in `suti.scoring.metrics`."""

from __future__ import annotations

import dataclasses

from suti.config import schema_default


@dataclasses.dataclass(frozen=True)
class FilterConfig:
    """Config `filter`: thresholds tau to sweep (None = no filter) and the CLIP-I floor every kept sample needs."""

    taus: tuple[float | None, ...] = schema_default("filter.taus")
    clip_i_floor: float = schema_default("filter.clip_i_floor")
