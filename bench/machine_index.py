"""The machine index (`suti.machine_index`): the released base model's training and sampling throughput on this
machine now, and their geometric mean against the reference machine and day. Compare a run's minutes across days by
it (the run records its own: results/machine_index.json, the report's first lines).
Run: `python bench/machine_index.py [--repeats 5]`; writes bench/out/machine_index.json.
"""

from __future__ import annotations

import argparse

from suti import io, machine_index


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5, help="interleaved timed rounds (the median is kept)")
    p.add_argument("--out", default="bench/out/machine_index.json")
    args = p.parse_args()
    reading = machine_index.measure(repeats=args.repeats)
    ref = reading["reference"]
    print(f"train  {reading['train_images_per_s']:8.1f} images/s   reference {ref['train_images_per_s']:8.1f}")
    print(f"sample {reading['sample_images_per_s']:8.1f} images/s   reference {ref['sample_images_per_s']:8.1f}")
    print(f"machine index {reading['index']:.3f} (reference: {ref['date']})")
    io.write_json(reading, args.out)


if __name__ == "__main__":
    main()
