"""Pretrain the CLIP and the base model on a bare accelerator machine (no Snakemake, no MLflow).

The rules `pretrain_clip` and `pretrain_base` run the same stages (`suti pretrain-clip`, `suti pretrain-base`); this
script is for a lent machine that has JAX and torch but not the workflow's tools. It writes the params each rule
would pass (config/config.yaml + config/pretrain.yaml + config/pretrain-accelerator.yaml), runs the two stages one
after the other and packs each result folder into `--out` (cut into 15 MiB parts) as soon as it is done. A stage
killed at `--deadline` leaves its checkpoints in the pack; run the script again on the same machine and it skips
finished stages and resumes the rest. `--size-to CLIP_S BASE_S` first measures images/s (bench_pretrain.py) and
sizes the step counts to those training seconds; put the counts it prints into config/pretrain-accelerator.yaml.
The probe is not retrained: `--probe` names the released one's training output (results/pretrain/probe/model).
Back here: `cat` the parts, unpack into results/pretrain/, and release with
`suti release-pretrained --params @results/pretrain/params-release.json ...` (the rule release_pretrained's command).

Measured on one H200 with 16 cores (14 render workers): base 6,600 images/s at batch 256, CLIP 7,200 at 512 in the
bench (5,200 in the stage). Start-up, compiles, the measurement (131 s) and the evaluations cost ~4 of 10 minutes.

Run: python bench/pretrain_accelerator.py [--size-to 110 230] [--deadline 565] --out $OUT

On this workplace's lent H200 (no package index there) the release was made with wheels carried in `.whl/`
(git-ignored): `need/` open_clip_torch, ftfy, wcwidth; `pin/` this project's flax, optax, orbax-checkpoint (tried
if the machine's own fail), and `results/pretrain/probe` carried beside them:
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/need/*.whl
    python3 -m pip install -q --no-index --no-deps --target /tmp/pin .whl/pin/*.whl
    PYTHONPATH=$PWD/src:/tmp/site python3 bench/pretrain_accelerator.py --pinned /tmp/pin --out $OUT
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


from suti.config import default_config, from_dict
from suti.pretrain.config import PretrainConfig
from suti.pretrain.release import pretrain_params

CONFIGS = ("config/pretrain.yaml", "config/pretrain-accelerator.yaml")
RESULTS = Path("results/pretrain")


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
    from its checkpoints); pack the folder into `out` whatever happens (a killed stage's pack holds its resumable
    `.partial` checkpoints). True when the stage finished."""
    if (folder / "summary.json").exists():  # finished by an earlier call on this machine
        print(f"{name}: done by an earlier call (its pack came back then)", flush=True)
        return True
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
    pack(folder, out, keep_checkpoints=code != 0)
    return code == 0


def pack(folder: Path, out: Path, keep_checkpoints: bool) -> None:
    """out/<folder>.tgz.part-NN: the folder (its `.partial` checkpoints only when the stage did not finish), cut into
    parts of at most PART bytes (what a lent machine hands back per file); `cat` them together to unpack."""
    blob = out / f"{folder.name}.tgz"
    with tarfile.open(blob, "w:gz") as tar:
        tar.add(folder, arcname=folder.name, filter=None if keep_checkpoints else
                (lambda info: None if ".partial" in info.name else info))
    data = blob.read_bytes()
    blob.unlink()
    for i in range(0, len(data), PART):
        (out / f"{folder.name}.tgz.part-{i // PART:02d}").write_bytes(data[i:i + PART])


START = time.time()
PART = 15 * 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size-to", nargs=2, type=float, metavar=("CLIP_S", "BASE_S"),
                   help="measure images/s first and size the step counts to these training seconds (default: the "
                        "config's step counts)")
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
    config = default_config(overlays=CONFIGS)
    pre = from_dict(PretrainConfig, config["pretrain"])
    packages = Packages(args.pinned)
    chosen = {"clip_steps": pre.clip.steps, "base_steps": pre.base.train.steps}
    if args.size_to:
        rates = measure(args.measure_steps, packages)
        print(f"measured after {time.time() - START:.0f} s: {rates}", flush=True)
        chosen = {"clip_steps": sized_steps(args.size_to[0], rates["clip_images_per_s"], pre.clip.batch_size,
                                            pre.clip.checkpoint_every),
                  "base_steps": sized_steps(args.size_to[1], rates["base_images_per_s"], pre.base.train.batch_size,
                                            pre.base.train.checkpoint_every), "rates": rates}
    if args.cap_steps:
        chosen = dict(chosen, clip_steps=min(chosen["clip_steps"], args.cap_steps),
                      base_steps=min(chosen["base_steps"], args.cap_steps))
    config["pretrain"]["clip"]["steps"] = chosen["clip_steps"]
    config["pretrain"]["base"]["train"]["steps"] = chosen["base_steps"]
    print(f"steps: {chosen}", flush=True)
    params = {"clip": pretrain_params(config, ["scorer"], ["clip"]),
              "base": pretrain_params(config, ["base"], ["base"]),
              "release": pretrain_params(config, ["scorer", "probe", "base"], ["clip", "probe", "base"])}
    RESULTS.mkdir(parents=True, exist_ok=True)
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
