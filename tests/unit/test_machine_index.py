"""The machine index (suti.machine_index): its arithmetic and the report's line (the measurement itself runs in the
micro pipeline, rule machine_index)."""

from __future__ import annotations

import pytest

from suti.machine_index import REFERENCE, index_of
from suti.stages.report import machine_note

REF = {"date": "2026-12-08", "train_images_per_s": 200.0, "sample_images_per_s": 40.0}


def test_the_index_is_the_geometric_mean_of_the_throughput_ratios():
    assert index_of(200.0, 40.0, REF) == pytest.approx(1.0)
    assert index_of(100.0, 20.0, REF) == pytest.approx(0.5)        # everything twice as slow
    assert index_of(400.0, 20.0, REF) == pytest.approx(1.0)        # twice as fast to train, twice as slow to sample


def test_the_reference_is_a_measured_day():
    assert REFERENCE["train_images_per_s"] > 0 and REFERENCE["sample_images_per_s"] > 0 and REFERENCE["date"]


def test_the_report_line_names_the_index_and_the_reference():
    line = machine_note({"index": 0.5, "train_images_per_s": 100.0, "sample_images_per_s": 20.0, "reference": REF})
    assert line.startswith("Machine index 0.50 (1.00 = the reference machine on 2026-12-08)")
    assert "trains 100 images/s and samples 20.0 images/s here (reference 200 / 40.0)" in line
