"""Orbax checkpoints of the train state (resume), and exported models (params + config + tokenizer)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from suti import io


HISTORY = "history.json"


class Checkpointer:
    """Saves the train state every N steps under `directory`, keeps the latest few, restores the latest."""

    def __init__(self, directory: str | Path, max_to_keep: int = 2):
        self.directory = Path(directory).resolve()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state, history: list[dict] | None = None) -> None:
        """The state at `step` and, when given, the training log up to it (history.json beside the steps), so that a
        resumed run reports the whole run's curve."""
        self.manager.save(step, args=ocp.args.StandardSave(state), force=True)
        self.manager.wait_until_finished()
        if history is not None:
            io.write_json(history, self.directory / HISTORY)

    def history(self, step: int) -> list[dict]:
        """The training log saved with the checkpoints, up to `step` (empty if none was saved)."""
        path = self.directory / HISTORY
        return [row for row in json.loads(path.read_text()) if row["step"] <= step] if path.exists() else []

    def restore(self, step: int, like):
        """The state saved at `step`, with the structure, shapes and dtypes of `like`."""
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract))

    def close(self) -> None:
        self.manager.close()


def _dataclass_json(obj) -> dict:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def export_model(directory: str | Path, params, meta: dict, write_extra=None) -> None:
    """Write a model directory atomically: `params/` (orbax; left out when params is None), `meta.json` (configs,
    tokenizer, provenance) and whatever `write_extra(folder)` adds (the apprentice's demonstration encoder)."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".export-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if params is not None:
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save(tmp.resolve() / "params", params)
    io.write_json({k: _dataclass_json(v) for k, v in meta.items()}, tmp / "meta.json")
    if write_extra is not None:
        write_extra(tmp)
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)


def load_params(directory: str | Path, like):
    """Exported params with the structure of `like` (an abstract or concrete params pytree), placed on this
    machine's default device: a model exported on a CPU loads on an accelerator and back (orbax would otherwise
    restore onto the devices it was saved from, and fail where they do not exist)."""
    here = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=here), like)
    with ocp.StandardCheckpointer() as ckptr:
        return ckptr.restore(Path(directory).resolve() / "params", abstract)


def load_meta(directory: str | Path) -> dict:
    return json.loads((Path(directory) / "meta.json").read_text())


def digest(params) -> str:
    """sha256 of a params tree's leaves as float32, in path order: equal trees, equal digests."""
    h = hashlib.sha256()
    for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(params), key=lambda kv: jax.tree_util.keystr(kv[0])):
        h.update(jax.tree_util.keystr(path).encode())
        h.update(np.asarray(leaf, np.float32).tobytes())
    return h.hexdigest()[:16]
