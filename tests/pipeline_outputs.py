"""Reading what a pipeline run wrote, shared by the integration and the cluster tests."""

from __future__ import annotations

TIMING_WORDS = ("second", "per_s", "time")  # figures that vary run to run


def numeric_leaves(value, path: str, lists: bool = False) -> dict[str, float]:
    """{"path/key/...": number} for every number in a JSON value, timings left out; list items too with `lists`."""
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, sub in value.items():
            out.update(numeric_leaves(sub, f"{path}/{key}", lists))
    elif isinstance(value, list) and lists:
        for i, sub in enumerate(value):
            out.update(numeric_leaves(sub, f"{path}/{i}", lists))
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and \
            not any(word in path for word in TIMING_WORDS):
        out[path] = value
    return out


def job_counts(out: str) -> dict[str, int]:
    """Jobs per rule from the "Job stats" table of Snakemake's output (the table alone, or a log holding it)."""
    if "Job stats:" in out:
        out = out.split("Job stats:")[1].split("total")[0]
    return {line.split()[0]: int(line.split()[1]) for line in out.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
