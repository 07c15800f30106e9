"""`suti release-pretrained`: copy the pretrained CLIP, probe, judges (identity judge, evaluation CLIP), base model and
in-context apprentice into `pretrained/` (the folder the experiment loads by default and git tracks), each with its
provenance.json: commit, config hash, world fingerprint, architecture, images seen, wall time, hardware and quality
figures (the apprentice's in-context identity read by the judge, which only scores)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from suti import io
from suti.apprentice.encoder import DemoEncoder
from suti.apprentice.pipeline import ApprenticePipeline, share_frozen
from suti.config import from_dict
from suti.errors import SutiError
from suti.evaluation.identity import in_context_identity
from suti.evaluation.protocol import bootstrap_ci
from suti.pretrain import release
from suti.pretrain.config import PretrainConfig
from suti.scoring.judge import load_judge
from suti.stages.common import add_params_argument, log

HELP = "release the pretrained models into pretrained/ with their provenance"

QUALITY_KEYS = {  # the summary figures each provenance.json carries
    "clip": ("zero_shot_class", "zero_shot_colour", "zero_shot_background", "zero_shot_chance", "retrieval_r1",
             "retrieval_r5", "retrieval_chance_r1", "eval_images", "learning_curve"),
    "eval_clip": ("zero_shot_class", "zero_shot_colour", "zero_shot_background", "zero_shot_chance", "retrieval_r1",
                  "retrieval_r5", "retrieval_chance_r1", "eval_images", "learning_curve", "vocabulary"),
    "probe": ("accuracy_class", "accuracy_colour", "accuracy_pattern", "accuracy_background", "accuracy_companion",
              "accuracy_material", "n_eval"),
    "judge": ("heldout_top1", "chance", "lookalikes", "eval_subjects", "queries_per_subject", "references",
              "learning_curve"),
    "base": ("generated", "generated_ci95", "class_word_effect", "ground_truth_renders",
             "ground_truth_class_word_effect", "chance", "prompts", "samples_per_prompt", "guidance",
             "sampler_steps", "learning_curve", "params", "frozen_params"),
    "apprentice": ("in_context", "in_context_chance", "identities", "demos", "samples_per_identity", "prompt",
                   "guidance", "sampler_steps", "pool_images", "pool_identities", "params", "frozen_params"),
}
WITH_SAMPLES = ("base", "apprentice")  # models whose sample grid travels with them (--samples, one model at a time
                                       # for the apprentice; the full release's is the base model's)

# summary keys a provenance carries as they are: where it trained, and what a continued base model started from
CARRIED = ("hardware", "continued_from", "stream_steps")


def add_arguments(p) -> None:
    add_params_argument(p)
    for name in QUALITY_KEYS:
        p.add_argument(f"--{name}", help=f"exported pretrained {name} model folder")
        p.add_argument(f"--{name}-summary", help="its summary JSON")
    p.add_argument("--samples", help="the base model's (or, with --only apprentice, the apprentice's) sample grid, "
                                     "copied beside it")
    p.add_argument("--only", nargs="+", choices=list(QUALITY_KEYS), default=["clip", "probe", "base"],
                   help="release these models and leave the others' folders as they are (default: the CLIP, the "
                        "probe and the base model; the apprentice and the judges (identity judge, evaluation CLIP) "
                        "are released alone)")
    p.add_argument("--reading-judge", help="a released identity judge (pretrained/judge): with --only apprentice, the "
                                           "provenance carries the apprentice's in-context identity by it")
    p.add_argument("--out", required=True, help="the release folder (pretrained/)")
    p.add_argument("--record", required=True, help="output JSON: what was released where")


def run(args) -> None:
    params, resolution = args.params, int(args.params["world"]["resolution"])
    sampled = [n for n in args.only if n in WITH_SAMPLES]
    if len(sampled) > 1:
        raise SutiError(f"release-pretrained: release {' and '.join(sampled)} one at a time (one --samples each)")
    needed = [f"--{n}{part}" for n in args.only for part in ("", "-summary")] + ["--samples"] * bool(sampled)
    missing = [flag for flag in needed if getattr(args, flag[2:].replace("-", "_")) is None]
    if missing:
        raise SutiError(f"release-pretrained: {', '.join(missing)} needed to release {' '.join(args.only)}")
    architectures = {"clip": lambda: release.clip_architecture(params["scorer"]),
                     "probe": lambda: release.probe_architecture(params["probe"]),
                     "judge": lambda: release.judge_architecture(params["judge"]),
                     "eval_clip": lambda: release.clip_architecture(params["scorer"]),
                     "base": lambda: release.base_architecture(params["base"]),
                     "apprentice": lambda: release.apprentice_architecture(params)}
    record = {}
    for name in args.only:
        summary = json.loads(Path(getattr(args, f"{name}_summary")).read_text())
        # the commit whose code trained the model (its summary says; older summaries do not), then the releasing one
        trained_at = summary.get("git_commit", "unknown (its summary predates the record)")
        # a continued model's wall time is every leg's (continued_from keeps the earlier legs' own figures)
        seconds = summary["train_seconds"] + summary.get("continued_from", {}).get("wall_seconds", 0.0)
        quality = {k: summary[k] for k in QUALITY_KEYS[name] if k in summary}
        if name == "apprentice" and args.reading_judge:
            quality["in_context_identity"] = apprentice_identity(args.apprentice, args.reading_judge, params)
            earlier = summary.get("continued_from", {})
            if "quality" in earlier and "in_context_identity" not in earlier["quality"]:
                # the release it continues, read the same way beside it (that folder is not yet replaced)
                earlier["quality"]["in_context_identity"] = apprentice_identity(earlier["folder"],
                                                                               args.reading_judge, params)
        prov = release.provenance(f"suti-pretrained-{name}", architectures[name](), resolution, params,
                                  summary["images_seen"], seconds,
                                  quality,
                                  seed=summary.get("world_seed", params["pretrain"]["seed"]),
                                  **{k: summary[k] for k in CARRIED if k in summary},
                                  git_commit=trained_at, release_commit=release.git_commit())
        target = Path(args.out) / name
        release.release(getattr(args, name), target, prov, half=True)
        if name == "apprentice":  # its CLIP and frozen text tower are released beside it: point at them, no copies
            DemoEncoder.share(target, Path(args.out) / "clip")
            share_frozen(target, Path(args.out) / "base")
        record[name] = {"path": str(target), "world_fingerprint": prov["world_fingerprint"],
                        "config_hash": prov["config_hash"], "git_commit": prov["git_commit"]}
        log.info("released %s to %s", name, target)
    for name in sampled:
        shutil.copy(args.samples, Path(args.out) / name / "samples.png")
    io.write_json(record, args.record)


def apprentice_identity(model_dir: str, judge_dir: str, params: dict) -> dict:
    """The apprentice's in-context identity on the pretraining reading's held-out stream identities, by the judge
    (`evaluation.identity.in_context_identity`; `bench/in_context_identity.py` reads any two apprentices paired)."""
    pre, resolution = from_dict(PretrainConfig, params["pretrain"]), int(params["world"]["resolution"])
    try:
        release.check_world(judge_dir, "--reading-judge", resolution)
    except SutiError as err:  # a judge of another world or resolution reads nothing here
        return {"missing": str(err)}
    judge = load_judge(judge_dir)
    reading = in_context_identity(ApprenticePipeline.load(model_dir), judge, pre.seed, resolution,
                                  pre.apprentice.eval_identities, pre.apprentice.sample,
                                  heldout_combos=[tuple(c) for c in params["base"]["heldout_combos"]])
    ids = np.arange(pre.apprentice.eval_identities)
    out = {"judge": judge.id, "lookalikes": 15, "chance": 1 / 16, "identities": pre.apprentice.eval_identities,
           "demos": 3, "samples_per_identity": 2, "prompt": "a photo of a {class}"}
    for metric, values in reading.items():
        mean, low, high = bootstrap_ci(values, ids, 2000, 0)
        out[metric], out[f"{metric}_ci95"] = mean, [low, high]
    return out
