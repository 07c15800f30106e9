"""Real corpora into the corpus table: an image folder, or a parquet/CSV manifest of (path, caption[, page]).

Folder layout: each sub-folder is a page; an image `x.jpg` takes its caption from `x.txt` beside it (empty if absent).
Images at the folder's top level form one page named after the folder. Undecodable files are kept as their raw bytes
so that mining counts them as corrupt, as it does for the synthetic corpus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from suti.data import tables
from suti.data.images import decode_image, encode_png, square_resize
from suti.errors import SutiError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}


def _row(page_id: str, image_id: str, path: Path, caption: str, source: str, resolution: int) -> dict:
    raw = path.read_bytes()
    img = decode_image(raw)
    data = raw if img is None else encode_png(square_resize(img, resolution))
    return dict(page_id=page_id, image_id=image_id, image=data, caption=caption, source=source)


def from_folder(root: str | Path, resolution: int) -> pa.Table:
    """The corpus table of an image folder (see module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise SutiError(f"corpus.path: no such folder: {root}")
    rows = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        rel = path.relative_to(root)
        page = rel.parts[0] if len(rel.parts) > 1 else root.name
        sidecar = path.with_suffix(".txt")
        caption = sidecar.read_text().strip() if sidecar.exists() else ""
        rows.append(_row(page, rel.with_suffix("").as_posix(), path, caption, f"folder:{root}", resolution))
    if not rows:
        raise SutiError(f"corpus.path: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
    return tables.from_rows(rows, tables.CORPUS)


def read_manifest(path: str | Path) -> pa.Table:
    """A manifest table with at least `path` and `caption` columns; one line naming the problem otherwise."""
    path = Path(path)
    if not path.exists():
        raise SutiError(f"corpus.path: no such manifest: {path}")
    try:
        table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise SutiError(f"corpus.path: unreadable manifest {path}: {str(err).splitlines()[0]}") from err
    missing = {"path", "caption"} - set(table.column_names)
    if missing:
        raise SutiError(f"corpus.path: manifest {path} lacks column(s) {sorted(missing)}")
    return table


def from_manifest(path: str | Path, resolution: int) -> pa.Table:
    """The corpus table of a manifest; relative image paths are relative to the manifest's folder."""
    path = Path(path)
    manifest = read_manifest(path).to_pylist()
    rows = []
    for i, entry in enumerate(manifest):
        image_path = Path(str(entry["path"]))
        image_path = image_path if image_path.is_absolute() else path.parent / image_path
        if not image_path.exists():
            raise SutiError(f"corpus.path: manifest {path} row {i}: no such image {image_path}")
        page = str(entry.get("page") or image_path.parent.name)
        caption = "" if entry["caption"] is None else str(entry["caption"])
        rows.append(_row(page, f"{i:08d}", image_path, caption, f"manifest:{path}", resolution))
    return tables.from_rows(rows, tables.CORPUS)


def split_shards(table: pa.Table, n_shards: int) -> list[pa.Table]:
    """Split a table into n_shards row ranges without splitting a page."""
    table = table.sort_by([("page_id", "ascending")])
    pages = np.asarray(table.column("page_id").to_pylist(), dtype=object)
    starts = np.flatnonzero(np.r_[True, pages[1:] != pages[:-1]])
    picks = np.linspace(0, len(starts), n_shards + 1)[1:-1].astype(int).clip(0, len(starts) - 1)
    cuts = [0] + [int(starts[k]) for k in picks] + [len(table)]
    return [table.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])]
