"""Released foundation models in `pretrained/<name>/`: provenance, fingerprints, and the check that an experiment's
config and world are the ones a released model was trained for (a stale model is never used silently).

`provenance.json` records the git commit, the config hash, the world fingerprint, the architecture config the
experiment must match, images seen, wall time, hardware and the model's quality figures.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np

from suti import io, world
from suti.errors import SutiError

PROVENANCE = "provenance.json"
RETRAIN = "set {key}: scratch to train it in the run, or re-release it (snakemake pretrain --configfile " \
          "config/pretrain.yaml)"


def world_fingerprint(resolution: int) -> str:
    """sha256 over the world's vocabulary and the code of `suti.world` (its syntax tree without docstrings, so comments
    and formatting do not count): any change to subjects, scenes, captions or the renderer changes it. Code rather
    than renders, so the same world fingerprints the same on every CPU (float rounding may differ across them)."""
    digest = hashlib.sha256(json.dumps([resolution, world.CLASSES, world.COLOURS, world.BACKGROUNDS,
                                        world.COMPANIONS, world.PATTERNS, world.MATERIALS], sort_keys=True).encode())
    for path in sorted(Path(world.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        digest.update(path.name.encode() + ast.dump(tree).encode())
    return digest.hexdigest()[:16]


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).parent).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def training_commit(work: str | Path) -> str:
    """The commit of the code that started a resumable training in `work`: recorded there on the first start and read
    back on every resume, so a run resumed on a later commit still names the one it began on."""
    path = Path(work) / "GIT_COMMIT"
    if not path.exists():
        io.write_text(git_commit(), path)
    return path.read_text().strip()


def hardware() -> dict:
    import jax

    return {"machine": platform.machine(), "cpus": os.cpu_count(), "jax_devices": [str(d) for d in jax.devices()],
            "device_kind": jax.devices()[0].device_kind, "python": platform.python_version()}


def pretrain_params(config: dict, sections: list[str], budgets: list[str]) -> dict:
    """A pretraining rule's params: the world, the architecture `sections` and the seeds, plus the render workers and
    the rule's own `budgets` of the pretrain section, so that one model's budget never re-runs another's."""
    pre = config["pretrain"]
    # of the apprentice section, only how demonstrations enter it: its experiment-side training never re-runs this
    picked = {s: {k: config[s][k] for k in APPRENTICE_ARCH_KEYS + MAP_ARCH_KEYS} if s == "apprentice" else config[s]
              for s in ["world", *sections]}
    return {"seed": config["seed"], **picked,
            "pretrain": {k: pre[k] for k in ["seed", "render_workers", *budgets] if k in pre}}


def provenance(name: str, architecture: dict, resolution: int, config: dict, images_seen: int, seconds: float,
               quality: dict, **extra) -> dict:
    """The provenance record of a released model; `extra` adds keys or overrides them (the `hardware` it trained on,
    when that was not this machine)."""
    record = dict(name=name, git_commit=git_commit(), config_hash=config_hash(config), config=config,
                  world_fingerprint=world_fingerprint(resolution), resolution=resolution, architecture=architecture,
                  images_seen=int(images_seen), wall_seconds=float(seconds), hardware=hardware(), quality=quality)
    return dict(record, **extra)


def release(source: str | Path, target: str | Path, record: dict, half: bool = False) -> None:
    """Copy an exported model folder to `target` with its provenance.json, atomically; `half` stores its float
    weights as float16 (they load back into float32 models: orbax and open_clip cast on restore)."""
    target = Path(target)
    tmp = target.with_name(target.name + ".release-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns(".snakemake_timestamp"))  # Snakemake's marker
    if half:
        to_half(tmp)
    io.write_json(record, tmp / PROVENANCE)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def to_half(folder: Path) -> None:
    """Rewrite a model folder's float32 weights as float16, in place: orbax `params/` and open_clip safetensors.
    Halves what a release weighs in git; the models' outputs move by ~1e-3 relative."""
    import jax
    import orbax.checkpoint as ocp
    from safetensors.numpy import load_file, save_file

    def half(x):
        x = np.asarray(x)
        return x.astype(np.float16) if x.dtype == np.float32 else x

    for path in folder.glob("*.safetensors"):
        save_file({k: half(v) for k, v in load_file(str(path)).items()}, str(path))
    if (folder / "params").is_dir():
        here = jax.sharding.SingleDeviceSharding(jax.devices()[0])  # saved on an accelerator, read back on a CPU
        with ocp.StandardCheckpointer() as ckptr:
            saved = ckptr.metadata((folder / "params").resolve()).item_metadata
            like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=here), saved)
            tree = ckptr.restore((folder / "params").resolve(), like)
        shutil.rmtree(folder / "params")
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save((folder / "params").resolve(), jax.tree.map(half, tree))


def read_provenance(directory: str | Path, key: str, hint: str | None = None) -> dict:
    path = Path(directory) / PROVENANCE
    if not path.is_file():
        raise SutiError(f"{key}: pretrained: no released model at {directory} ({PROVENANCE} missing); "
                        + (hint or RETRAIN.format(key=key)))
    return json.loads(path.read_text())


def _differences(expected, released, prefix: str) -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(expected, dict) and isinstance(released, dict):
        out = []
        for k in sorted(set(expected) | set(released)):
            out += _differences(expected.get(k), released.get(k), f"{prefix}.{k}")
        return out
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731 (JSON has lists only)
    return [] if norm(expected) == norm(released) else [f"{prefix} (config {expected!r}, released {released!r})"]


def check_world(directory: str | Path, key: str, resolution: int, hint: str | None = None) -> dict:
    """The released model's provenance, after checking that it was trained for this world at this resolution (a model
    that carries its own architecture, as an open_clip folder does, needs no more). Raises SutiError in one line,
    ending in `hint` (how to get a matching model; default: train it in the run or re-release it)."""
    hint = hint or RETRAIN.format(key=key)
    record = read_provenance(directory, key, hint)
    where = f"{key}: pretrained: {directory} does not match this config:"
    if record["resolution"] != resolution:
        raise SutiError(f"{where} world.resolution (config {resolution}, released {record['resolution']}); {hint}")
    current = world_fingerprint(resolution)
    if record["world_fingerprint"] != current:
        raise SutiError(f"{where} the world (SynthBench's renderer, vocabulary or captions) changed since release "
                        f"(fingerprint {current}, released {record['world_fingerprint']}); {hint}")
    return record


def check(directory: str | Path, key: str, architecture: dict, arch_key: str, resolution: int) -> dict:
    """The released model's provenance, after checking that it was trained for this world and architecture.

    Args:
      directory: the released model folder (pretrained/<name>).
      key: the config key that asked for it ("base.init"), named in errors.
      architecture: the config section the model must match (e.g. base.model + base.diffusion), named `arch_key`.
      resolution: world.resolution.
    Raises SutiError, in one line naming what differs.
    """
    record = check_world(directory, key, resolution)
    where = f"{key}: pretrained: {directory} does not match this config:"
    diffs = _differences(json.loads(json.dumps(architecture)), record["architecture"], arch_key)
    if diffs:
        raise SutiError(f"{where} {'; '.join(diffs)}; " + RETRAIN.format(key=key))
    return record


def adopt(directory: str | Path, target: str | Path, key: str, architecture: dict, arch_key: str,
          resolution: int) -> dict:
    """Check a released model against this config and world (see `check`), then copy it to a stage's output folder
    `target` (atomically), so downstream stages read one path whether the model was trained in the run or not.
    Returns its provenance."""
    record = check(directory, key, architecture, arch_key, resolution)
    target = Path(target)
    tmp = target.with_name(target.name + ".adopt-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(directory, tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return record


# What a release must share with the experiment that loads it, read from the experiment's own sections (`scorer`,
# `probe.width`, `base.model` + `base.diffusion` + `base.heldout_combos`).
CLIP_ARCH_KEYS = ("embed_dim", "width", "layers", "head_width", "patch_size", "image_tower", "resnet_layers",
                  "resnet_width", "context_length")


def clip_architecture(scorer: dict) -> dict:
    return {k: scorer[k] for k in CLIP_ARCH_KEYS if k in scorer}


def probe_architecture(probe: dict) -> dict:
    return {"width": probe["width"]}


def judge_architecture(judge: dict) -> dict:
    return {"width": judge["width"], "embed_dim": judge["embed_dim"]}


APPRENTICE_ARCH_KEYS = ("max_demos", "demo_patch", "cross_attention_resolutions")
# where demonstrations enter as feature maps (the unet and both paths)
MAP_ARCH_KEYS = ("demo_path", "map_encoder", "map_resolutions", "map_key_side")


def apprentice_architecture(config: dict) -> dict:
    """What a released apprentice must share with the experiment: the base model it continues (its network; it
    carries its own weights), the CLIP that encodes its demonstrations, and how demonstrations enter it (the clip
    path is the one without `MAP_ARCH_KEYS`)."""
    apprentice = config["apprentice"]
    keys = APPRENTICE_ARCH_KEYS + (MAP_ARCH_KEYS if apprentice["demo_path"] != "clip" else ())
    return {"base": base_architecture(config["base"]), "clip": clip_architecture(config["scorer"]),
            **{k: apprentice[k] for k in keys}}


def base_architecture(base: dict) -> dict:
    """What a released base model must share with the experiment: network, process and held-out combinations
    (eval_base's held-out split is only held out if the release never saw it)."""
    return {"model": base["model"], "diffusion": base["diffusion"],
            "heldout_combos": [list(c) for c in base["heldout_combos"]]}


# The released foundation models (pretrained/<name>), the config section whose `init` chooses each, and what the
# release must share with the experiment (architectures read the whole config: the apprentice's spans the base,
# scorer and apprentice sections).
RELEASES = {"clip": ("scorer", lambda c: clip_architecture(c["scorer"])),
            "probe": ("probe", lambda c: probe_architecture(c["probe"])),
            "base": ("base", lambda c: base_architecture(c["base"])),
            "apprentice": ("apprentice", apprentice_architecture)}
