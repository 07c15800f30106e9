"""`suti eval-table`: every method's scores summarised into the paper-style tables and results/eval/metrics.json."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from suti import io
from suti.data import tables
from suti.evaluation import paired, paper_tables, protocol
from suti.stages.common import add_params_argument, log, write_summary

HELP = "summarise evaluation scores: means with bootstrap 95%% intervals, markdown and CSV tables"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--scores", required=True, nargs="+", help="score parquets (suti score-eval)")
    p.add_argument("--timing", help="the speed measurement (suti time-methods): the speed comparison's paired rows")
    p.add_argument("--markdown", required=True, help="output markdown table")
    p.add_argument("--csv", required=True, help="output CSV table")
    p.add_argument("--table", required=True, help="output parquet of the summary rows")
    p.add_argument("--metrics", required=True, help="output JSON of the headline numbers (DVC metrics)")
    p.add_argument("--paired", required=True, help="output parquet: paired differences with 95%% intervals of every "
                                                   "comparison the report draws (suti.evaluation.paired)")


def headline(summary: list[dict]) -> dict:
    """{bench: {"method[/tau_T][/demos_K][/wide]": {metric: mean}}}: what DVC and MLflow track across runs."""
    out = {}
    for r in summary:
        key = "/".join([r["method"]] + ([f"tau_{r['tau']}"] if r["tau"] else [])
                       + ([f"demos_{r['demos']}"] if r["demos"] else []) + ([r["subset"]] if r.get("subset") else []))
        out.setdefault(r["bench"], {})[key] = {
            m: r[m] for m in protocol.METRICS + ("judge_frechet", "seconds_per_subject")
            if r.get(m, float("nan")) == r.get(m, float("nan"))}  # drop NaN (missing)
    return out


def run(args) -> None:
    rows = tables.read_table(args.scores).to_pylist()
    summary = protocol.summarise(rows, n_boot=int(args.params["evaluation"]["bootstrap"]), seed=int(args.params["seed"]))
    io.write_parquet(pa.Table.from_pylist(summary), args.table)
    timed = pq.read_table(args.timing).to_pylist() if args.timing else []  # bench "timing": seconds only
    pairs = paired.paired_table(rows + timed, args.params["apprentice"],
                                n_boot=int(args.params["evaluation"]["bootstrap"]), seed=int(args.params["seed"]))
    io.write_parquet(pa.Table.from_pylist(pairs, schema=paired.SCHEMA), args.paired)
    benches = ("synthbench_test", "synthbench", "dreambench")  # test, validation, real photos
    text = "\n".join(paper_tables.markdown(summary, bench) for bench in benches)
    io.write_text("# Method comparison\n\n" + text, args.markdown)
    io.write_text(paper_tables.to_csv(summary), args.csv)
    log.info("\n%s", text)
    write_summary(headline(summary), args.metrics, figures=(args.markdown, args.csv))
