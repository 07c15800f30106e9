"""`suti report`: the paper's tables (markdown + CSV) and figures (PNG) from the evaluation results."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from suti import io
from suti.data import tables
from suti.data.images import decode_image
from suti.evaluation import plans, report, test_split
from suti.evaluation.generators import cluster_demonstrations
from suti.evaluation.methods import apprentice_label, main_apprentice
from suti.evaluation.paper_tables import HEADERS, method_label, replicates_note, to_csv
from suti.scoring.metrics import tau_name
from suti.stages.common import add_params_argument, log, write_summary

HELP = "write the paper's tables and figures from results/eval and results/filter"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--summary", required=True, help="results/eval/summary.parquet (suti eval-table)")
    p.add_argument("--paired", required=True, help="results/eval/paired.parquet (suti eval-table)")
    p.add_argument("--tau-choice", required=True, help="results/report/select_tau.json (suti select-tau)")
    p.add_argument("--filter-summaries", nargs="+", required=True, help="results/filter/<tau>/summary.json")
    p.add_argument("--generations", nargs="+", required=True, help="SynthBench generation parquets, one per (split, method): the grid's")
    p.add_argument("--clusters", required=True, help="mined clusters (the demonstrations)")
    p.add_argument("--corpus", nargs="+", help="corpus shards (SynthBench ground truth: each subject and its nearest "
                                                "look-alike beside the generations)")
    p.add_argument("--judge", help="released identity judge (pretrained/judge): picks the nearest look-alike")
    p.add_argument("--machine-index", help="results/machine_index.json (suti machine-index): the machine's speed today")
    p.add_argument("--markdown", required=True, help="output: every table, markdown")
    p.add_argument("--csv", required=True, nargs=4, help="output CSVs: main, demos, tau, speed")
    p.add_argument("--figures", required=True, nargs=3, help="output PNGs: demo ablation, tau ablation, grid")


def _fraction(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def grid_generations(paths) -> tuple[str, dict[str, list[dict]]]:
    """(bench, {method label: its rows}) of the grid's split: the test split where it was generated (the headline's
    methods, DreamBooth among them), else the validation split's main runs (not the demonstration ablation's wider
    runs, which repeat a column)."""
    by_bench: dict[str, dict[str, list[dict]]] = {}
    for p in paths:
        rows = tables.read_table([p], ["bench", "method", "tau", "demos", "subset", "subject", "prompt", "seed",
                                       "image"]).to_pylist()
        if rows and not rows[0]["subset"]:
            label = method_label(rows[0]).replace(" (", "\n(").replace(", ", ",\n")
            by_bench.setdefault(rows[0]["bench"], {})[label] = rows
    bench = test_split.BENCH if test_split.BENCH in by_bench else "synthbench"
    return bench, by_bench.get(bench, {})


def grid_subjects(args, bench: str, subjects: list[str], demos: int):
    """({subject: its first `demos` demonstrations}, {subject: [a fresh render of it, its nearest look-alike in the
    same scene]}): what every method was shown, and the pair the identity metric must tell apart ({} without ground
    truth)."""
    from suti.evaluation import identity

    if bench == test_split.BENCH:
        split = test_split.TestSplit.of(args.params)
        shown = split.demonstrations(demos, set(subjects))
        refs, _, _ = identity.references_of(args.params, args.judge, {s: split.subjects[s] for s in subjects})
    else:
        shown = cluster_demonstrations(pq.read_table(args.clusters), set(subjects), demos)
        refs, _, _ = identity.references_for(args.params, args.judge, args.clusters, args.corpus, subjects)
    seed, resolution = plans.world_seed(args.params), int(args.params["world"]["resolution"])
    pairs = {s: identity.subject_and_lookalike(ref, seed, resolution) for s, ref in (refs or {}).items()}
    return shown, pairs


def demo_grid(by_method: dict[str, list[dict]], shown: dict, pairs: dict, demos: int, title: str, path) -> None:
    """Per subject of `shown` (rows): its demonstrations, then the first plan image of each method (same prompt and
    seed), then its `pairs` (a fresh render of the subject and its nearest look-alike); each column titled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    subjects = sorted(shown)
    titles = [f"demo {i + 1}" for i in range(demos)] + list(by_method)
    titles += ["the subject\n(fresh render)", "nearest\nlook-alike"][:max((len(p) for p in pairs.values()), default=0)]
    fig, axes = plt.subplots(max(len(subjects), 1), len(titles), figsize=(1.3 * len(titles), 1.45 * len(subjects) + 0.4),
                             squeeze=False)
    for i, s in enumerate(subjects):
        images = list(shown[s]) + [None] * (demos - len(shown[s]))
        for rows in by_method.values():
            first = next((r for r in rows if r["subject"] == s), None)
            images.append(decode_image(first["image"]) if first else None)
        images += pairs.get(s, [])
        for j, (ax, image) in enumerate(zip(axes[i], images)):
            if image is not None:
                ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=7)
        prompt = next((r["prompt"] for rows in by_method.values() for r in rows if r["subject"] == s), "")
        axes[i][0].set_ylabel(f"{s}\n{prompt}", fontsize=6)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


PAIRED_SECTIONS = (  # (comparison kind of suti.evaluation.paired, heading): A minus B, 95% paired intervals
    ("against DreamBooth", "every method minus DreamBooth"),
    ("demonstrations", "each demonstration count minus the fewest"),
    ("tau", "each filter threshold's apprentice minus the main tau's"),
    ("source", "each training source minus clusters-then-experts"),
    ("distillation", "the guidance-distilled apprentice minus the undistilled one"),
)

SPLITS = {  # what each bench's subjects are, and what its tables are for
    "synthbench_test": "SynthBench test split: fresh subjects from an id range nothing else reads, curated "
                       "demonstrations (evaluation.test); the headline, read once per release",
    "synthbench": "SynthBench validation split: the held-out mined clusters; every choice (tau, steps, levers) is "
                  "made here",
    "dreambench": "DreamBench: real photos (the first demonstrations given, the rest the references)"}

CLUSTERS_START = {  # apprentice.init: where the clusters phase starts
    "pretrained": "from the released in-context apprentice (pretrained/apprentice: the base model pretrained in "
                  "context on stream identities, SynthBench's Re-Imagen)",
    "scratch": "from the base model"}


def run(args) -> None:
    apprentice = args.params["apprentice"]
    main_tau, demos = tau_name(apprentice["main_tau"]), int(apprentice["demos"])
    main = main_apprentice(apprentice)  # the main tau's, guidance distilled where it is
    summary = pq.read_table(args.summary).to_pylist()
    filters = [json.loads(Path(p).read_text()) for p in args.filter_summaries]
    by_filter = {f["tau"]: f for f in filters}
    label = ("Method", method_label)
    sections = ["# suti report", "", replicates_note(summary), ""]
    if args.machine_index:
        sections += [machine_note(json.loads(Path(args.machine_index).read_text())), ""]
    main_rows = []
    benches = sorted({r["bench"] for r in summary}, key=lambda b: list(SPLITS).index(b) if b in SPLITS else 99)
    for bench in benches:
        rows = report.main_comparison(summary, bench, tuple(dict.fromkeys((main, main_tau))), demos)
        main_rows += rows
        sections += [f"## Main comparison: {bench}", "", f"Split: {SPLITS.get(bench, bench)}.", "",
                     report.markdown_table(rows, label, (
            ("s / subject", lambda r: f"{r['seconds_per_subject']:.2f}"),)), ""]
    by_demos = report.demo_ablation(summary, main)
    on = f", {by_demos[0]['subjects']} held-out subjects" if by_demos else ""
    sections += [f"## Demonstration count (SynthBench validation, {apprentice_label(main)}{on})", "",
                 report.markdown_table(by_demos, ("Demos", lambda r: str(r["demos"]))), ""]
    by_tau = report.tau_ablation(summary, demos, by_filter)
    sections += [f"## Filter threshold tau (SynthBench validation, {demos} demonstrations)", "",
                 "Training samples: the experts' samples the filter kept; their subject and prompt accuracy, read by "
                 "the probe, say what the apprentice imitated.", "",
                 report.markdown_table(by_tau, ("tau", lambda r: r["tau"]), (
                     ("Training samples", lambda r: str(r["training_samples"])),
                     ("Samples' subject acc.", lambda r: _fraction(r["kept_subject_accuracy"])),
                     ("Samples' prompt acc.", lambda r: _fraction(r["kept_prompt_accuracy"])))), ""]
    choice = json.loads(Path(args.tau_choice).read_text())
    sections += [f"Chosen on the validation split by {HEADERS.get(choice['metric'], choice['metric']).lower()} (rule "
                 f"select_tau): tau {choice['chosen']}; configured apprentice.main_tau: {choice['configured']} ("
                 f"{'they agree' if choice['agrees'] else 'they differ: set apprentice.main_tau to re-run with it'}"
                 ").", ""]
    by_source = report.source_ablation(summary, main_tau, demos)
    if by_source:
        sections += [f"## What the apprentice learns from (SynthBench validation, {demos} demonstrations, tau "
                     f"{main_tau})", "",
                     "Clusters: in-context training on the mined training clusters (demonstrations and target from "
                     f"one cluster), {CLUSTERS_START[apprentice.get('init', 'scratch')]}. Experts: imitation of the "
                     "experts' filtered samples (new contexts); experts only starts from the base model.", "",
                     report.markdown_table(by_source, ("Trained on", lambda r: r["source"])), ""]
    speed = report.speed_table(summary)
    sections += ["## Speed (seconds per subject, demonstrations to all its images)", "",
                 "| Bench | Method | s / subject | images / subject | x apprentice |", "|---|---|---|---|---|"]
    sections += [f"| {r['bench']} | {r['method']} | {r['seconds_per_subject']:.2f} | {r['images_per_subject']:.0f} | "
                 f"{r['ratio_to_suti']:.2f} |" for r in speed]
    pairs = pq.read_table(args.paired).to_pylist()
    test = "synthbench_test" if "synthbench_test" in benches else "synthbench"
    goals = report.targets(pairs, main, demos, bench=test)
    sections += ["", f"## Targets (the apprentice, {apprentice_label(main)}, against the DreamBooth experts on "
                 f"{test})", "", f"Split: {SPLITS[test]}; time per subject: the speed measurement's (rule "
                 "time_methods: the test split's first subjects, both methods interleaved and repeated in one "
                 "process); the demonstration count's rise: the validation split's.", "",
                 "Paired over subjects, prompts and seeds: SuTI minus DreamBooth (or their ratio) with its 95% "
                 "bootstrap interval over subjects and replicates; the interval alone decides.", "",
                 "| Target | Paper | Measured: SuTI vs DreamBooth, difference [95%] | Rule | Subjects | Met |",
                 "|---|---|---|---|---|---|"]
    sections += [f"| {g['target']} | {g['paper']} | {g['measured']} | {g['rule']} | {g['subjects']} | "
                 f"{'yes' if g['met'] else 'no'} |" for g in goals]
    for kind, title in PAIRED_SECTIONS:
        table = report.paired_markdown(pairs, kind)
        if table:
            sections += ["", f"## Paired differences: {title}", "", table]
    filter_rows = [{k: v for k, v in f.items() if not isinstance(v, dict)} for f in filters]
    sections += ["", "## Filtered training sets", "", to_markdown_rows(filter_rows)]
    io.write_text("\n".join(sections) + "\n", args.markdown)
    for rows, path in zip((main_rows, by_demos, by_tau, speed), args.csv):
        io.write_text(to_csv(rows), path)
    report.plot_ablation(by_demos, "demonstrations", [str(r["demos"]) for r in by_demos],
                         f"SuTI ({apprentice_label(main)}) by demonstration count", args.figures[0])
    report.plot_ablation(by_tau, "tau", [r["tau"] for r in by_tau], f"SuTI ({demos} demos) by filter tau",
                         args.figures[1])
    bench, by_method = grid_generations(args.generations)
    subjects = sorted({r["subject"] for rows in by_method.values() for r in rows})[:4]
    shown, pairs = grid_subjects(args, bench, subjects, demos)
    demo_grid(by_method, shown, pairs, demos, f"{SPLITS[bench].split(':')[0]}, {demos} demonstrations",
              args.figures[2])
    log.info("report written to %s", args.markdown)
    write_summary({"main_tau": main_tau, "main_apprentice": main, "demos": demos, "methods": len(summary),
                   "targets_met": sum(bool(g["met"]) for g in goals), "targets": len(goals)},
                  str(Path(args.markdown).with_name("report.json")), figures=(args.markdown, *args.figures))


def machine_note(reading: dict) -> str:
    """One line: the machine index of the run (suti.machine_index), by which its times compare across days."""
    ref = reading["reference"]
    return (f"Machine index {reading['index']:.2f} (1.00 = the reference machine on {ref['date']}): the released base "
            f"model trains {reading['train_images_per_s']:.0f} images/s and samples "
            f"{reading['sample_images_per_s']:.1f} images/s here (reference {ref['train_images_per_s']:.0f} / "
            f"{ref['sample_images_per_s']:.1f}); a time in this report times the index is the reference's.")


def to_markdown_rows(rows: list[dict]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    return "\n".join(lines + ["| " + " | ".join(fmt(r.get(k)) for k in keys) + " |" for r in rows])
