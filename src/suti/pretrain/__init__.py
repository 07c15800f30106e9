"""Pretraining of the foundation models (CLIP, base text-to-image model, probe) on a SynthBench render stream whose
identities are disjoint from every identity an experiment can contain, and their release in `pretrained/`."""

from __future__ import annotations

import json
import time
from pathlib import Path


def milestones(total: int, every: int) -> list[int]:
    """Steps at which the learning curve is read: every `every` steps, and the last step."""
    return sorted({*range(every, total, every), total}) if every > 0 else [total]


class LearningCurve:
    """A pretraining run's learning-curve readings, kept in its resumable work folder (`curve.json`): a killed run's
    readings survive, a resumed run skips the steps already read, and train_seconds run on across a resume (a killed
    run's time counts up to its last reading)."""

    def __init__(self, work: str | Path, batch_size: int, images_before: int = 0):
        # images_before: what a continued model had seen at its release, so readings count all the images it saw
        self.path, self.batch_size, self.images_before = Path(work) / "curve.json", batch_size, images_before
        self.points = json.loads(self.path.read_text()) if self.path.exists() else []
        self.start = time.perf_counter() - (self.points[-1]["train_seconds"] if self.points else 0.0)

    def has(self, step: int) -> bool:
        return any(p["step"] == step for p in self.points)

    def add(self, step: int, point: dict) -> None:
        from suti import io

        self.points.append(dict(point, step=step, images_seen=self.images_before + step * self.batch_size,
                                train_seconds=self.seconds()))
        io.write_json(self.points, self.path)

    def seconds(self) -> float:
        return time.perf_counter() - self.start
