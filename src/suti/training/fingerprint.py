"""Fingerprints that tie resumable checkpoints to the exact job that wrote them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path


def fingerprint(params: dict, *files: str | Path) -> str:
    """sha256 of the job's params and input files' contents (a directory: every file in it, in path order)."""
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    paths = []
    for f in map(Path, files):
        paths += sorted(p for p in f.rglob("*") if p.is_file()) if f.is_dir() else [f]
    for f in paths:
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def resumable_dir(directory: str | Path, key: str) -> Path:
    """A checkpoint directory that belongs to job `key`: kept if it was written by the same job, wiped otherwise,
    so a changed config or input never resumes from stale state."""
    directory = Path(directory)
    stamp = directory / "FINGERPRINT"
    if directory.exists() and (not stamp.exists() or stamp.read_text() != key):
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key)
    return directory
