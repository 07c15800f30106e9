"""Two finished runs compared method by method, paired: run A's images minus run B's on the same subjects, prompts and
seeds (every run renders the same evaluation plan for a seed), with the paired bootstrap of the report
(`suti.evaluation.paired.paired_difference`). Use it for a change the DAG cannot hold in one run, such as the
apprentice's demonstration path (`apprentice.demo_path`, which needs its own release): run the default once per
release into two folders, then compare them on the validation split (bench `synthbench`) before reading the test.

Run: `python bench/compare_runs.py RESULTS_A RESULTS_B [--bench synthbench] [--methods suti-0.200-distilled-k3]`;
prints one table per method and writes bench/out/compare_runs.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow.parquet as pq

from suti import io
from suti.evaluation.paired import paired_difference
from suti.evaluation.protocol import METRICS


def methods_of(results: Path, bench: str) -> set[str]:
    return {p.parent.name for p in (results / "eval" / bench).glob("*/scores.parquet")}


def rows_of(results: Path, bench: str, method: str) -> list[dict]:
    return pq.read_table(results / "eval" / bench / method / "scores.parquet").to_pylist()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path, help="run A's results/ folder")
    p.add_argument("b", type=Path, help="run B's results/ folder")
    p.add_argument("--bench", default="synthbench", help="synthbench (validation), synthbench_test or dreambench")
    p.add_argument("--methods", nargs="+", help="methods to compare (default: every method both runs evaluated)")
    p.add_argument("--metrics", nargs="+", default=list(METRICS))
    p.add_argument("--boot", type=int, default=2000)
    p.add_argument("--out", default="bench/out/compare_runs.json")
    args = p.parse_args()
    methods = args.methods or sorted(methods_of(args.a, args.bench) & methods_of(args.b, args.bench))
    out = {"a": str(args.a), "b": str(args.b), "bench": args.bench, "methods": {}}
    for method in methods:
        a_rows, b_rows = rows_of(args.a, args.bench, method), rows_of(args.b, args.bench, method)
        print(f"\n{method} ({args.bench}): A minus B, 95% paired interval")
        print(f"{'metric':20s} {'A':>7s} {'B':>7s} {'A - B':>8s} {'95%':>19s} {'subjects':>9s}")
        table = {}
        for metric in args.metrics:
            if metric not in a_rows[0] or metric not in b_rows[0]:
                continue
            d = paired_difference(a_rows, b_rows, metric, args.boot, 0)
            if d is None:
                continue
            table[metric] = d
            print(f"{metric:20s} {d['a_mean']:7.3f} {d['b_mean']:7.3f} {d['diff']:+8.3f} "
                  f"[{d['diff_low']:+.3f}, {d['diff_high']:+.3f}] {d['subjects']:9d}")
        out["methods"][method] = table
    io.write_json(out, args.out)


if __name__ == "__main__":
    main()
