"""How long Snakemake takes to plan the DAG for many experts: a dry run with `experts.subjects` training subjects.

Run: `python bench/bench_dag.py [--subjects 10000]` from the repository root (target: at most 30 s for 10,000).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from suti import io


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--subjects", type=int, default=10_000)
    p.add_argument("--shard-size", type=int, default=8)
    p.add_argument("--out", default="bench/out/dag.json")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "big.yaml"
        extra.write_text(f"experts:\n  subjects: {args.subjects}\n  shard_size: {args.shard_size}\n")
        cmd = [str(Path(sys.executable).parent / "snakemake"), "-n", "--forceall", "all", "--quiet", "rules",
               "--configfile", "config/config.yaml", str(extra)]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        seconds = time.perf_counter() - start
    jobs = sum(int(line.split()[1]) for line in out.splitlines()
               if len(line.split()) == 2 and line.split()[1].isdigit() and line.split()[0] != "total")
    print(f"dry run for {args.subjects:,} subjects ({jobs:,} jobs): {seconds:.1f} s (target <= 30 s)")
    io.write_json({"subjects": args.subjects, "jobs": jobs, "seconds": seconds}, args.out)


if __name__ == "__main__":
    main()
