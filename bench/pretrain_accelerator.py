"""Pretrain the CLIP and the base model on a bare accelerator machine (no Snakemake, no MLflow), inside a time budget.

The rules `pretrain_clip` and `pretrain_base` run the same stages (`suti pretrain-clip`, `suti pretrain-base`); this
script is for a lent machine that has JAX, torch and a few hours of nothing else: it measures the images/s of both
(bench_pretrain.py), sizes their step counts to `--clip-seconds` and `--base-seconds`, writes the params each rule
would pass (config/config.yaml + config/pretrain.yaml + config/pretrain-accelerator.yaml, those step counts), runs
the two stages one after the other, and packs each result folder into `--out` as soon as it is done, so what a
killed run finished still comes back. The probe is not retrained: pass the released one's training output with
`--probe` (results/pretrain/probe/model). Put the steps it chose into config/pretrain-accelerator.yaml, bring the
folders back into results/pretrain/, and release them with `suti release-pretrained --params @<out>/release.json`.

Run: python bench/pretrain_accelerator.py --clip-seconds 120 --base-seconds 250 --out $OUT
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from suti.config import default_config, deep_update, from_dict  # noqa: E402
from suti.pretrain.config import PretrainConfig  # noqa: E402

CONFIGS = ("config/pretrain.yaml", "config/pretrain-accelerator.yaml")
RESULTS = Path("results/pretrain")


def load_config() -> dict:
    config = default_config()
    for path in CONFIGS:
        config = deep_update(config, yaml.safe_load(Path(path).read_text()))
    return config


def rule_params(config: dict, sections: list[str], budgets: list[str]) -> dict:
    """What workflow/rules/common.smk's get_pretrain_params passes a pretraining rule."""
    pre = config["pretrain"]
    return {"seed": config["seed"], **{s: config[s] for s in ["world", *sections]},
            "pretrain": {k: pre[k] for k in ["seed", "render_workers", *budgets] if k in pre}}


class Packages:
    """The machine's own flax / optax / orbax first; on a failure, once, the versions this project pins (wheels
    installed into `pinned`), put first on the children's PYTHONPATH."""

    def __init__(self, pinned: str | None):
        self.pinned = pinned

    def retry(self, what: str) -> bool:
        if not self.pinned:
            return False
        print(f"{what} failed with the machine's packages; retrying with the pinned ones in {self.pinned}", flush=True)
        os.environ["PYTHONPATH"] = os.pathsep.join([self.pinned, os.environ.get("PYTHONPATH", "")])
        self.pinned = None
        return True


def measure(steps: int, packages: Packages) -> dict:
    """bench_pretrain's images/s for both models, in a child process (it also compiles the base model's step into
    the persistent compile cache the stage then reads)."""
    out = RESULTS / "rates.json"
    cmd = [sys.executable, "bench/bench_pretrain.py", "--steps", str(steps), "--config", *CONFIGS, "--out", str(out)]
    while subprocess.run(cmd).returncode != 0:
        if not packages.retry("the measurement"):
            raise SystemExit("the measurement failed")
    return json.loads(out.read_text())


def sized_steps(seconds: float, images_per_s: float, batch: int, multiple: int) -> int:
    return max(multiple, int(seconds * images_per_s / batch) // multiple * multiple)


def run_stage(name: str, args: list[str], out: Path, folder: Path, deadline: float, packages: Packages) -> bool:
    """Run `suti <name>`, logging into `folder` (a failure retries once with the pinned packages: the stage resumes
    from its checkpoints); pack the folder into out/<folder>.tgz whatever happens (a killed stage leaves its
    resumable `.partial` checkpoints). True when the stage finished."""
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(2):
        with open(folder / f"{name}-{attempt}.log", "w") as log:
            proc = subprocess.Popen([sys.executable, "-m", "suti.cli", name, *args], stdout=log,
                                    stderr=subprocess.STDOUT)
            try:
                code = proc.wait(timeout=max(1.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                code = "killed at the deadline"
        print(f"{name}: exit {code} after {time.time() - START:.0f} s", flush=True)
        if code == 0 or code == "killed at the deadline" or not packages.retry(name):
            break
    with tarfile.open(out / f"{folder.name}.tgz", "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return code == 0


START = time.time()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clip-seconds", type=float, default=120)
    p.add_argument("--base-seconds", type=float, default=250)
    p.add_argument("--deadline", type=float, default=560, help="seconds from start after which a stage is killed")
    p.add_argument("--probe", default=str(RESULTS / "probe/model"))
    p.add_argument("--measure-steps", type=int, default=40)
    p.add_argument("--cap-steps", type=int, help="at most this many steps each (a rehearsal on a CPU)")
    p.add_argument("--pinned", help="site folder of this project's pinned flax / optax / orbax, tried on a failure")
    p.add_argument("--out", default=os.environ.get("OUT", "bench/out"))
    args = p.parse_args()
    out, deadline = Path(args.out), START + args.deadline
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SUTI_TRACKING_SPOOL", str(RESULTS / "spool"))  # no MLflow on the machine: spool runs
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(".cache/jax").resolve()))  # as the workflow's
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = load_config()
    pre = from_dict(PretrainConfig, config["pretrain"])
    packages = Packages(args.pinned)
    rates = measure(args.measure_steps, packages)
    print(f"measured after {time.time() - START:.0f} s: {rates}", flush=True)
    clip_steps = sized_steps(args.clip_seconds, rates["clip_images_per_s"], pre.clip.batch_size,
                             pre.clip.checkpoint_every)
    base_steps = sized_steps(args.base_seconds, rates["base_images_per_s"], pre.base.train.batch_size,
                             pre.base.train.checkpoint_every)
    if args.cap_steps:
        clip_steps, base_steps = min(clip_steps, args.cap_steps), min(base_steps, args.cap_steps)
    config["pretrain"]["clip"]["steps"] = clip_steps
    config["pretrain"]["base"]["train"]["steps"] = base_steps
    chosen = {"clip_steps": clip_steps, "base_steps": base_steps, "rates": rates}
    print(f"chosen: {chosen}", flush=True)
    params = {"clip": rule_params(config, ["scorer"], ["clip"]), "base": rule_params(config, ["base"], ["base"]),
              "release": rule_params(config, ["scorer", "probe", "base"], ["clip", "probe", "base"])}
    for name, value in params.items():
        (RESULTS / f"params-{name}.json").write_text(json.dumps(value, sort_keys=True))
    (out / "chosen.json").write_text(json.dumps(dict(chosen, params=params), indent=1))
    clip, base = RESULTS / "clip", RESULTS / "base"
    if run_stage("pretrain-clip", ["--params", f"@{RESULTS}/params-clip.json", "--model", f"{clip}/model",
                                   "--summary", f"{clip}/summary.json"], out, clip, deadline, packages):
        run_stage("pretrain-base", ["--params", f"@{RESULTS}/params-base.json", "--text-tower", f"{clip}/model",
                                    "--probe", args.probe, "--model", f"{base}/model",
                                    "--summary", f"{base}/summary.json", "--samples", f"{base}/samples.png"],
                  out, base, deadline, packages)


if __name__ == "__main__":
    main()
