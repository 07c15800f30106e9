"""`suti pretrain-judge`: the identity judge trained on look-alike groups of pretraining identities, with its
learning curve and its gate reading on held-out identities."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time

from suti import io
from suti.config import from_dict
from suti.pretrain import release
from suti.pretrain.config import JudgeBudget, PretrainConfig
from suti.scoring.judge import NAME, IdentityJudge, JudgeConfig, heldout_top1, train_judge
from suti.stages.common import add_params_argument, log, progress, write_summary
from suti.training.checkpoints import Checkpointer, export_model
from suti.training.fingerprint import fingerprint, resumable_dir

HELP = "pretrain the identity judge (re-identification among look-alikes) on the pretraining identities"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--model", required=True, help="output directory of the exported judge")
    p.add_argument("--summary", required=True, help="output JSON: learning curve and held-out top-1 among look-alikes")


def judge_config(judge: dict, budget: JudgeBudget) -> JudgeConfig:
    """The judge section's architecture with the pretraining budget (the gate's reading keeps JudgeConfig's own)."""
    return from_dict(JudgeConfig, dict(judge, **dataclasses.asdict(budget)))


def run(args) -> None:
    resolution = int(args.params["world"]["resolution"])
    pre = from_dict(PretrainConfig, args.params["pretrain"])
    cfg = judge_config(args.params["judge"], pre.judge)
    work = resumable_dir(f"{args.model}.partial", fingerprint(args.params))
    commit = release.training_commit(work)  # the code that started it, kept across resumes
    curve_path = work / "curve.json"        # readings survive a resume with the checkpoints they were made from
    curve = json.loads(curve_path.read_text()) if curve_path.exists() else []

    def reading(step, judge):
        top1 = heldout_top1(judge, cfg, pre.seed, resolution, cfg.curve_subjects)
        log.info("step %d: held-out top-1 among %d look-alikes %.3f", step, cfg.lookalikes, top1)
        curve.append({"step": step, "images_seen": step * batch, "top1": top1, "subjects": cfg.curve_subjects})
        io.write_json(curve, curve_path)

    batch = cfg.groups * cfg.identities * cfg.renders
    start = time.perf_counter()
    with progress(cfg.steps, "pretrain_judge") as bar:
        graphdef, params, history = train_judge(cfg, pre.seed, resolution, bar, Checkpointer(work), reading)
    seconds = time.perf_counter() - start
    meta = {"judge": dataclasses.asdict(cfg), "resolution": resolution}
    top1 = heldout_top1(IdentityJudge(graphdef, params, meta), cfg, pre.seed, resolution, cfg.eval_subjects)
    curve.append({"step": cfg.steps, "images_seen": cfg.steps * batch, "top1": top1, "subjects": cfg.eval_subjects})
    log.info("identity judge: held-out top-1 among %d look-alikes %.3f (chance %.4f)", cfg.lookalikes, top1,
             1 / (cfg.lookalikes + 1))
    export_model(args.model, params, meta)
    shutil.rmtree(work)
    write_summary(dict(heldout_top1=top1, chance=1 / (cfg.lookalikes + 1), lookalikes=cfg.lookalikes,
                       eval_subjects=cfg.eval_subjects, queries_per_subject=cfg.eval_queries,
                       references=cfg.references, learning_curve=curve, git_commit=commit, train_seconds=seconds,
                       images_seen=cfg.steps * batch, scorer=NAME,
                       final_loss=history[-1]["loss"] if history else None, loss_curve=history[::4]), args.summary)
