"""`suti machine-index`: the machine index of this machine now (`suti.machine_index`): ~30 s of training and sampling
the released base model, against the reference machine and day, so that a run's minutes compare across days."""

from __future__ import annotations

from suti import machine_index
from suti.stages.common import log, write_summary

HELP = "measure the machine index (the released base model's training and sampling speed against the reference)"


def add_arguments(p) -> None:
    p.add_argument("--base", default="pretrained/base", help="the released base model it times")
    p.add_argument("--repeats", type=int, default=3, help="interleaved timed rounds (the median is kept)")
    p.add_argument("--out", required=True, help="output JSON (and its parquet beside it)")


def run(args) -> None:
    reading = machine_index.measure(args.base, args.repeats)
    log.info("machine index %.2f (train %.1f images/s, sample %.1f images/s; reference %s)", reading["index"],
             reading["train_images_per_s"], reading["sample_images_per_s"], reading["reference"]["date"])
    write_summary(reading, args.out)
