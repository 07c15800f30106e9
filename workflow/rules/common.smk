# Config validation, environment and get_* helpers. No rule lives here.
import json
import math
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from suti import config_checks, tracking
from suti.cli import COMMANDS
from suti.codedeps import closure
from suti.config import ConfigError, deep_update, display_path, load_schema, load_yaml, validate
from suti.evaluation.methods import (
    APPRENTICE_KINDS,
    DISTILLED,
    FROM_BASE,
    METHOD_PATTERN,
    main_apprentice,
    method_names,
    parse_method,
    wide_demo_ablation,
)
from suti.mining.embed import USES_CLIP
from suti.pretrain import release
from suti.scoring.registry import is_registry_name
from suti.scoring.metrics import TAU_PATTERN, tau_name

# Jobs inherit this environment: no hub retries for missing weights (a missing one fails at once), and one JAX
# compile cache shared by all rules. Rules call the `suti` command: run Snakemake from the activated .venv (or
# through `make`), or with --use-conda.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(".cache/jax").resolve()))

# config/config.yaml is read here, not by a `configfile:` directive, so that a YAML error in it names the file and
# the line; `config` already holds the --configfile files and --config values, which override it key by key.
# (Snakemake itself parses --configfile files before this runs: `suti check-config FILE...` locates their errors.)
_CONFIG_FILES = [Path(workflow.basedir) / "config" / "config.yaml", *workflow.overwrite_configfiles]
try:
    config.update(deep_update(load_yaml(_CONFIG_FILES[0]), dict(config)))
    validate(config, load_schema(Path(workflow.current_basedir) / "../schemas/config.schema.yaml"))
    config_checks.check(config)
except ConfigError as err:
    sys.exit(str(err.in_file([display_path(f) for f in _CONFIG_FILES])))

# A release the config loads (`<section>.init: pretrained`) that does not match this config or world has already
# stopped planning above (config_checks.check_releases), in one line naming what differs.
def uses_pretrained(name):
    return config[release.RELEASES[name][0]]["init"] == "pretrained"


def get_pretrained_input(name):
    """pretrained/<name> when the run loads that release (so a new release re-runs what uses it); else nothing."""
    return [f"pretrained/{name}"] if uses_pretrained(name) else []


def get_pretrained_argument(name):
    return " ".join(f"--pretrained {path}" for path in get_pretrained_input(name))


def get_pretrain_base_input(wildcards):
    """pretrain_base's model inputs: a fresh model takes the pretraining run's CLIP (its text tower) and probe; one
    that continues a release (pretrain.base.init_from) brings its own text tower, and the released probe reads it."""
    start = config.get("pretrain", {}).get("base", {}).get("init_from", "")
    if start:
        return {"init_from": start, "probe": "pretrained/probe"}
    return {"text_tower": "results/pretrain/clip/model", "probe": "results/pretrain/probe/model"}


def get_pretrain_base_tower(wildcards):
    """--text-tower for a fresh base model; nothing for a continued one (its tower is in its folder)."""
    inputs = get_pretrain_base_input(wildcards)
    return f"--text-tower {shlex.quote(inputs['text_tower'])}" if "text_tower" in inputs else ""


def get_pretrain_apprentice_input(wildcards):
    """pretrain_apprentice's inputs: the released base model, CLIP and probe (pretrained/), the very weights the
    experiment and the apprentice's release use (float16); this pretraining run's own, released first, unless
    pretrain.apprentice.from_released takes the ones already there (to re-release the apprentice alone)."""
    inputs = {name: f"pretrained/{name}" for name in ("base", "clip", "probe")}
    budget = config.get("pretrain", {}).get("apprentice", {})
    if not budget.get("from_released", False):
        inputs["released"] = "results/pretrain/release.json"
    if budget.get("init_from"):
        inputs["init_from"] = budget["init_from"]
    return inputs


def get_pretrain_params(sections, budgets):
    """Params of a pretraining rule: the architecture `sections` plus the pretraining seed and the rule's own
    `budgets` of the pretrain section (config/pretrain.yaml), so one model's budget never re-runs another's."""

    def params(wildcards):
        if "pretrain" not in config:
            raise WorkflowError("config error: pretrain: missing; run snakemake pretrain --configfile "
                                "config/pretrain.yaml")
        return json.dumps(release.pretrain_params(config, sections, budgets), sort_keys=True)

    return params


# What each pretrained model's release reads: its architecture sections and its pretrain budget (release_one rule).
PRETRAIN_SECTIONS = {"clip": (["scorer"], ["clip"]), "probe": (["probe"], ["probe"]), "base": (["base"], ["base"]),
                     "judge": (["judge"], ["judge"]), "eval_clip": (["scorer"], ["eval_clip"]),
                     "apprentice": (["base", "scorer", "apprentice"], ["apprentice"])}


def get_release_one_params(wildcards):
    return get_pretrain_params(*PRETRAIN_SECTIONS[wildcards.name])(wildcards)


def get_release_one_samples(wildcards):
    """The base model's and the apprentice's sample grids travel with them; the other models have none."""
    return [f"results/pretrain/{wildcards.name}/samples.png"] if wildcards.name in ("base", "apprentice") else []


# Every stage job logs an MLflow run (suti.tracking); where to is config, unless the environment already says. Jobs
# spool their runs and the workflow publishes them in one process as it ends (MLflow costs ~5 s to open per process).
os.environ.setdefault("MLFLOW_TRACKING_URI", config["tracking"]["uri"])
os.environ.setdefault("SUTI_TRACKING", "1" if config["tracking"]["enabled"] else "0")
os.environ.setdefault(tracking.SPOOL_ENV, str(Path(tracking.DEFAULT_SPOOL).resolve()))


def publish_runs():
    """The runs of this workflow's jobs (and any a killed one left) into MLflow, when the workflow ends."""
    if not tracking.enabled():
        return
    try:
        tracking.publish(os.environ[tracking.SPOOL_ENV])
    except Exception as err:  # e.g. a tracking server down: the runs stay spooled, nothing is lost
        print(f"suti: MLflow runs not published ({err}); they stay in {tracking.DEFAULT_SPOOL}: run "
              "`suti publish-runs` to retry", file=sys.stderr)


onsuccess:
    publish_runs()


onerror:
    publish_runs()

# Replicates (config `replicates`): replicate r of everything trained downstream of mining and the foundation models
# (experts, their samples and filter, apprentices, the trained methods' evaluation) runs with seed + r under its own
# root, results/replicate-<r>/; replicate 0's root is results/ itself. The {root} wildcard is that root.
REPLICATE_ROOT = r"results(?:/replicate-[1-9]\d*)?"

wildcard_constraints:
    root=REPLICATE_ROOT,
    shard=r"\d+",
    tau=TAU_PATTERN,
    bench=r"synthbench|synthbench_test|dreambench",
    method=METHOD_PATTERN,


# The chain corpus -> mining -> base -> experts -> filter -> apprentices runs first: with two jobs at a time (the
# default profile), evaluation jobs, which only consume its outputs, fill the free slots instead of delaying it.
CHAIN_PRIORITY = 1

SRC = Path(workflow.basedir) / "src"


def params_json(sections, replicate=0):
    """Config `sections` plus the seed (seed + replicate, and from replicate 1 on the replicate itself) as JSON."""
    return json.dumps({"seed": config["seed"] + replicate, **({"replicate": replicate} if replicate else {}),
                       **{s: config[s] for s in sections}}, sort_keys=True)


def get_params(*sections):
    """The rule's own config sections (plus the seed) as JSON: a change to them re-runs the rule."""
    return params_json(sections)


def get_replicate_roots():
    return ["results"] + [f"results/replicate-{r}" for r in range(1, config["replicates"])]


def replicate_of(root):
    """results -> 0, results/replicate-2 -> 2."""
    return 0 if root == "results" else int(root.rpartition("replicate-")[2])


def get_replicate_params(*sections):
    """get_params for jobs under {root}, with the seed of their replicate (seed + r) and, from replicate 1 on, r
    itself (so replicate 0's params, and its results, are those of a run without replicates)."""

    return lambda wildcards: params_json(sections, replicate_of(wildcards.root))


def get_code(command):
    """The source files `suti <command>` runs: the static import closure of the CLI and the command's stage module
    (suti.codedeps), so that an edit anywhere that code reaches re-runs the rule, and nowhere else does."""
    stage = f"suti.stages.{COMMANDS[command].partition(':')[0]}"
    return [str(f.relative_to(workflow.basedir)) for f in closure(SRC, "suti.cli", stage)]


def get_corpus_shards():
    return expand("results/corpus/shard-{shard}.parquet", shard=[f"{i:03d}" for i in range(config["corpus"]["n_shards"])])


def get_corpus_source():
    """A real corpus's folder or manifest, so that a change to it re-runs build_corpus; nothing for SynthBench."""
    return [] if config["corpus"]["source"] == "synthbench" else [config["corpus"]["path"]]


def get_dreambench_root():
    """dreambench.root if it exists, else the first existing read-only copy, else root (fetched by a rule)."""
    cfg = config["dreambench"]
    for candidate in [cfg["root"], *cfg["copies"]]:
        if Path(candidate).exists():
            return candidate
    return cfg["root"]


def get_expert_shards():
    """Shard names 0000, 0001, ...: ceil(experts.subjects / experts.shard_size) of them, fixed by config so that the
    whole DAG (and a dry run of it) is known before mining runs."""
    cfg = config["experts"]
    return [f"{i:04d}" for i in range(-(-cfg["subjects"] // cfg["shard_size"]))]


def get_expert_outputs(name, root="results"):
    return expand("{root}/experts/{shard}/{name}", root=root, shard=get_expert_shards(), name=name)


def get_priors_input():
    """DreamBooth's class-prior images, where the expert recipe preserves the prior (experts.prior_batch > 0)."""
    return ["results/experts/priors.parquet"] if config["experts"]["prior_batch"] else []


def get_priors_argument():
    return " ".join(f"--priors {path}" for path in get_priors_input())


def get_scorer_input():
    """The trained small CLIP when scoring.clip.model is empty (the default); nothing for a named open_clip model."""
    return ["results/scorer/model"] if not config["scoring"]["clip"]["model"] else []


def get_scorer_argument():
    return " ".join(f"--scorer {path}" for path in get_scorer_input())


def get_text_tower():
    """The frozen text tower of a base model trained in the run with text_encoder clip: base.text_tower, or else the
    small CLIP (a released base model carries its own)."""
    if config["base"]["model"]["text_encoder"] != "clip" or uses_pretrained("base"):
        return None
    return config["base"]["text_tower"] or "results/scorer/model"


def get_text_tower_input():
    """A tower folder is an input; an open_clip registry name (MODEL:PRETRAINED) is not."""
    tower = get_text_tower()
    if tower is None or is_registry_name(tower):
        return []
    return [tower.removeprefix("local-dir:")]


def get_text_tower_argument():
    tower = get_text_tower()
    return f"--text-tower {shlex.quote(tower)}" if tower else ""


def get_mining_params():
    """mining (and, for the clip embedder, which CLIP: scoring.clip) as the rule's params."""
    if config["mining"]["embedder"] not in USES_CLIP:
        return get_params("mining")
    return json.dumps({"seed": config["seed"], "mining": config["mining"],
                       "scoring": {"clip": config["scoring"]["clip"]}}, sort_keys=True)


def get_mining_scorer_input():
    return get_scorer_input() if config["mining"]["embedder"] in USES_CLIP else []


def get_mining_scorer_argument():
    return " ".join(f"--scorer {path}" for path in get_mining_scorer_input())


def get_taus():
    """Wildcard values of filter.taus: "none" (no filter) or the threshold with 3 decimals."""
    return [tau_name(t) for t in config["filter"]["taus"]]


def get_benches():
    return (["synthbench"] + (["synthbench_test"] if config["evaluation"]["test"]["enabled"] else [])
            + (["dreambench"] if config["evaluation"]["dreambench"]["enabled"] else []))


def get_evaluate_inputs(wildcards):
    """Named inputs of rule evaluate for one (bench, method); get_evaluate_arguments passes them on."""
    method = parse_method(wildcards.method)
    inputs = {"eval_clip": get_eval_clip_input()}  # never scoring.clip: the evaluation reads its own CLIP
    if wildcards.bench == "synthbench":  # the held-out clusters; ground truth for the oracle, probe and judge
        inputs.update(clusters="results/mining/clusters.parquet", corpus=get_corpus_shards(),
                      probe="results/probe/model", judge=get_judge_input())
    elif wildcards.bench == "synthbench_test":  # its subjects and demonstrations come from the config's seed
        inputs.update(probe="results/probe/model", judge=get_judge_input())
    elif wildcards.bench == "dreambench":
        inputs["dreambench_images"] = "results/dreambench/images.parquet"
        inputs["dreambench_prompts"] = "results/dreambench/prompts.parquet"
    if method.kind in ("base", "experts"):
        inputs["base"] = "results/base/model"
    if method.kind == "experts":
        inputs["priors"] = get_priors_input()
    if method.kind in APPRENTICE_KINDS:
        inputs["apprentice"] = f"{wildcards.root}/apprentice/{method.tau}/model"
    return inputs


def get_evaluate_arguments(wildcards):
    """{"dreambench_images": path(s)} -> "--dreambench-images path ..." (the stage's own flag names)."""
    parts = []
    for name, value in get_evaluate_inputs(wildcards).items():
        values = [value] if isinstance(value, str) else list(value)
        if values:
            parts.append(f"--{name.replace('_', '-')} " + " ".join(values))
    return " ".join(parts)


def get_judge_input():
    """The released identity judge (it only scores), when there is one: without it the identity metrics are missing,
    with the reason."""
    return ["pretrained/judge"] if Path(workflow.basedir, "pretrained/judge/provenance.json").is_file() else []


def get_eval_clip_input():
    """The released evaluation CLIP when scoring.eval_clip.model is empty and there is one (without it CLIP-I and
    CLIP-T are missing, with the reason); nothing for a named open_clip model."""
    if config["scoring"]["eval_clip"]["model"]:
        return []
    return ["pretrained/eval_clip"] if Path(workflow.basedir, "pretrained/eval_clip/provenance.json").is_file() else []


def get_judge_argument(wildcards):
    return " ".join(f"--judge {path}" for path in get_judge_input())


def get_evaluate_params(wildcards):
    """world, scoring, evaluation and judge, plus the experts section for the DreamBooth baseline (how its experts
    train), with the seed of the job's replicate, and how many images of a subject are demonstrations (the
    references of fidelity metrics leave them out)."""
    sections = ["world", "scoring", "evaluation", "judge"]
    experts = ["experts"] if parse_method(wildcards.method).kind == "experts" else []
    params = json.loads(get_replicate_params(*sections, *experts)(wildcards))
    params["demonstrations"] = {k: config["apprentice"][k] for k in ("demos", "max_demos")}
    return json.dumps(params, sort_keys=True)


def job_resources(runtime, mem_mb=None, accelerated=False):
    """What a job asks a scheduler for beside its threads: memory (MB), runtime (minutes, times
    cluster.runtime_factor) and, for the training and sampling rules (`accelerated`), cluster.gpus GPUs of
    cluster.gpu_model. A scheduler's profile turns them into its requests (docs/cluster.md); the local profile
    schedules by its own `cpus` slots and ignores them."""
    cluster = config["cluster"]
    res = {"runtime": max(1, math.ceil(runtime * cluster["runtime_factor"]))}
    if mem_mb is not None:
        res["mem_mb"] = mem_mb
    if accelerated and cluster["gpus"] > 0:
        res["gpu"] = cluster["gpus"]
        if cluster["gpu_model"]:
            res["gpu_model"] = cluster["gpu_model"]
    return res


def get_all_cpus():
    """Every `cpus` slot the profile makes available (its `resources`; 1 elsewhere): a job that takes them runs with
    nothing beside it. Only the speed measurement (rule time_methods) does; evaluation jobs share the machine."""
    return workflow.global_resources["cpus"].value if "cpus" in workflow.global_resources else 1


def get_timing():
    """The speed measurement's table, where the test split runs DreamBooth and the apprentice (else none: the speed
    target is then missing)."""
    kinds = config["evaluation"]["methods"]
    return (["results/eval/timing.parquet"] if config["evaluation"]["test"]["enabled"] and "experts" in kinds
            and "suti" in kinds else [])


def get_tau_ablation_scores():
    """Each apprentice tau's validation scores (undistilled, at apprentice.demos demonstrations): rule select_tau's."""
    k = config["apprentice"]["demos"]
    return [f"results/eval/synthbench/suti-{tau}-k{k}/scores.parquet" for tau in get_apprentice_taus()]


def get_timing_argument(wildcards):
    return " ".join(f"--timing {path}" for path in get_timing())


def is_replicated(method):
    """Methods that train something per replicate (DreamBooth, the apprentices); base and oracle run once."""
    return parse_method(method).kind not in ("base", "oracle")


def get_eval_methods(bench):
    return method_names(config["evaluation"]["methods"], config["apprentice"], bench,
                        wide_demo_ablation(config["evaluation"]["synthbench"]), config["evaluation"]["test"]["enabled"])


def get_apprentice_taus():
    return [tau_name(t) for t in config["apprentice"]["taus"]]


def get_eval_scores():
    """Every (bench, method)'s scores, the trained methods' once per replicate root."""
    return [f"{root}/eval/{bench}/{method}/scores.parquet" for bench in get_benches()
            for method in get_eval_methods(bench)
            for root in (get_replicate_roots() if is_replicated(method) else ["results"])]


def get_final_outputs():
    return [
        "results/corpus/summary.json",
        "results/mining/clusters.parquet",
        "results/mining/summary.json",
        "results/dreambench/images.parquet",
        "results/probe/summary.json",
        "results/base/summary.json",
        "results/base/quality.json",
        "results/experts/quality.json",
        "results/scorer/summary.json",
        *expand("results/filter/{tau}/summary.json", tau=get_taus()),
        "results/eval/metrics.json",
        "results/report/report.md",
    ]


def get_source_ablation_apprentices(root="results"):
    """The clusters-only and experts-only apprentices' summaries, where apprentice.source_ablation asks for them."""
    cfg = config["apprentice"]
    if not cfg["source_ablation"] or cfg["clusters"]["steps"] == 0:
        return []
    return [f"{root}/apprentice/clusters/train.json", f"{root}/apprentice/{get_main_tau()}-from-base/train.json"]


def get_distilled_apprentice(root="results"):
    """The guidance-distilled main apprentice's summary, where apprentice.distill asks for it."""
    cfg = config["apprentice"]
    return [f"{root}/apprentice/{get_main_tau()}{DISTILLED}/train.json"] if cfg["distill"]["steps"] else []


def get_apprentice_clusters_init():
    """Where the clusters phase starts: the released in-context apprentice (apprentice.init pretrained), or the base
    model."""
    return "pretrained/apprentice" if uses_pretrained("apprentice") else "results/base/model"


def get_apprentice_init(wildcards):
    """An imitating apprentice's starting point: its replicate's clusters-trained apprentice; the base model for the
    `<tau>-from-base` ablation; where the clusters phase would start when it has no steps."""
    if wildcards.name.endswith(FROM_BASE):
        return "results/base/model"
    if config["apprentice"]["clusters"]["steps"] == 0:
        return get_apprentice_clusters_init()
    return f"{wildcards.root}/apprentice/clusters/model"


def get_main_tau():
    """The main comparison's tau, as named in paths (apprentice.main_tau)."""
    return tau_name(config["apprentice"]["main_tau"])


def main_chain_priority(name):
    """The main tau's filter and apprentice run before the other taus', so that its distillation (the same
    priority) runs beside their imitations instead of alone after them (it did: 79 s with one core idle in the
    default run; with the apprentice alone prioritised, the other filters finished first and their imitations took
    the cores). `name`: the job's tau or apprentice name."""
    return CHAIN_PRIORITY + 1 if name == get_main_tau() else CHAIN_PRIORITY


def get_apprentice_tau(wildcards):
    """The filter threshold whose samples apprentice `name` imitates."""
    return wildcards.name.removesuffix(FROM_BASE)


def get_apprentice_scorer_input(wildcards):
    """The demonstration encoder (the scorer CLIP) that an apprentice started from the base model takes on."""
    return get_scorer_input() if get_apprentice_init(wildcards) == "results/base/model" else []


def get_apprentice_scorer_argument(wildcards):
    return " ".join(f"--scorer {path}" for path in get_apprentice_scorer_input(wildcards))
