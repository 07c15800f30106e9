"""Real corpora into the corpus table: an image folder, or a parquet/CSV manifest of (path, caption[, page]).

Folder layout: each sub-folder is a page; an image `x.jpg` takes its caption from `x.txt` beside it. Images at the
folder's top level form one page named after the folder. Manifest paths are relative to the manifest's folder.

Every input is untrusted. Each path (manifest row, folder entry, caption file, symlink) is resolved, and nothing
outside the corpus root (`corpus.root`, by default the folder or the manifest's folder) is ever opened. Each image is
decoded in full and converted to RGB, after its pixel count has been read from the header (decompression bombs
never reach the decoder). An input that fails a check is skipped, and the rejected table records it with its reason.
An over-long caption is truncated and kept, and the rejected table records that too. The build fails only when
nothing usable remains.
"""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from PIL import Image, ImageOps

from suti.data import tables
from suti.data.images import encode_png, square_resize
from suti.errors import SutiError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
# Why an input was skipped (or, for caption_truncated, altered and kept).
REASONS = ("outside_root", "missing", "unreadable", "corrupt", "too_large", "empty_caption", "caption_truncated")
DECODERS = ["PNG", "JPEG", "WEBP", "BMP", "GIF"]  # the only Pillow plugins untrusted bytes reach (no EPS, no PSD, ...)


@dataclasses.dataclass(frozen=True)
class IngestLimits:
    """Bounds on untrusted inputs (config `corpus`)."""

    max_pixels: int = 40_000_000       # width x height from the header; more is a decompression bomb
    max_file_mb: float = 64.0          # bytes read per image file
    max_caption_chars: int = 1000      # longer captions are truncated (and counted)


@dataclasses.dataclass(frozen=True)
class Ingested:
    """The corpus table of the usable inputs, and one REJECTED row per skipped or altered input."""

    table: pa.Table
    rejected: pa.Table

    def counts(self) -> dict[str, int]:
        reasons = self.rejected.column("reason").to_pylist()
        return {reason: reasons.count(reason) for reason in REASONS}


class Rejected(Exception):
    """An input that fails a check: `reason` is one of REASONS, `detail` says what was found."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def confine(path: Path, root: Path) -> Path:
    """`path` with every symlink and `..` resolved, if it lies inside `root` (itself resolved); else Rejected."""
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError) as err:  # a NUL byte, a symlink loop
        raise Rejected("missing", f"{type(err).__name__}: {err}") from None
    if not real.is_relative_to(root):
        raise Rejected("outside_root", f"resolves to {real}, outside {root}")
    return real


def read_bounded(real: Path, max_bytes: int, truncate: bool = False) -> tuple[bytes, bool]:
    """(bytes, cut) of a regular file: at most `max_bytes`, a larger file Rejected as too_large, or with `truncate`
    its first `max_bytes` (cut True). Never opens a folder, device or pipe, which could block."""
    try:
        info = real.stat()
    except (OSError, ValueError) as err:
        raise Rejected("missing", f"{type(err).__name__}: {err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise Rejected("missing", "not a regular file")
    if info.st_size > max_bytes and not truncate:
        raise Rejected("too_large", f"{info.st_size} bytes > {max_bytes}")
    try:
        with open(real, "rb") as f:
            return f.read(max_bytes), info.st_size > max_bytes
    except OSError as err:  # permissions, I/O errors
        raise Rejected("unreadable", f"{type(err).__name__}: {err}") from None


def decode_untrusted(raw: bytes, max_pixels: int) -> np.ndarray:
    """Image bytes -> uint8 [H, W, 3], decoded in full (truncated files fail here, not later); Rejected otherwise."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=DECODERS) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise Rejected("too_large", f"{width}x{height} px > {max_pixels}")
                return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise Rejected("too_large", str(err).splitlines()[0]) from None
    except Rejected:
        raise
    except Exception as err:  # noqa: BLE001 - a decoder may raise anything on hostile bytes; all of it is `corrupt`
        raise Rejected("corrupt", f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None


def clean_caption(text: str, max_chars: int, cut: bool = False) -> tuple[str, bool]:
    """One line of printable text, at most `max_chars` long; (caption, truncated). Empty is Rejected. `cut`: the text
    is already a prefix of a longer caption."""
    text = " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())
    if not text:
        raise Rejected("empty_caption", "no caption text")
    return text[:max_chars], cut or len(text) > max_chars


class _Ingest:
    """Accumulates corpus rows and rejections for one source."""

    def __init__(self, root: Path, source: str, resolution: int, limits: IngestLimits):
        self.root, self.source, self.resolution, self.limits = root, source, resolution, limits
        self.rows: list[dict] = []
        self.rejected: list[dict] = []

    def reject(self, path: str, page: str, err: Rejected) -> None:
        self.rejected.append(dict(path=path, page_id=page, reason=err.reason, detail=err.detail))

    def add(self, name: str, page: str, image_id: str, image_path: Path, caption_fn) -> None:
        """One input: `caption_fn()` gives (raw caption text, cut short) or raises Rejected; `name` is how it is
        listed."""
        try:
            raw, _ = read_bounded(confine(image_path, self.root), int(self.limits.max_file_mb * 2**20))
            text, cut = caption_fn()
            caption, truncated = clean_caption(text, self.limits.max_caption_chars, cut)
            image = decode_untrusted(raw, self.limits.max_pixels)
        except Rejected as err:
            self.reject(name, page, err)
            return
        if truncated:
            self.reject(name, page, Rejected("caption_truncated", f"to {self.limits.max_caption_chars} chars"))
        self.rows.append(dict(page_id=page, image_id=image_id, caption=caption, source=self.source,
                              image=encode_png(square_resize(image, self.resolution))))

    def result(self) -> Ingested:
        done = Ingested(tables.from_rows(self.rows, tables.CORPUS), tables.from_rows(self.rejected, tables.REJECTED))
        if not self.rows:
            counts = ", ".join(f"{n} {r}" for r, n in done.counts().items() if n)
            raise SutiError(f"corpus.path: nothing usable in {self.source.split(':', 1)[1]} "
                            f"({len(self.rejected)} inputs rejected: {counts or 'none found'})")
        return done


def _root(path: Path, root: str | Path) -> Path:
    return Path(os.path.realpath(root or path))


def from_folder(folder: str | Path, resolution: int, limits: IngestLimits = IngestLimits(),
                root: str | Path = "") -> Ingested:
    """The corpus of an image folder (see module docstring); symlinked sub-folders are never followed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SutiError(f"corpus.path: no such folder: {folder}")
    top = Path(os.path.realpath(folder))
    ingest = _Ingest(_root(top, root), f"folder:{folder}", resolution, limits)
    if not top.is_relative_to(ingest.root):
        raise SutiError(f"corpus.root: {ingest.root} does not contain corpus.path {folder}")
    found = 0

    def unreadable(err: OSError) -> None:
        name = Path(err.filename or top)
        ingest.reject(name.relative_to(top).as_posix() if name.is_relative_to(top) else str(name), "",
                      Rejected("unreadable", f"{type(err).__name__}: {err.strerror}"))

    # followlinks=False: a linked folder is listed, never entered; an unreadable folder is recorded, not skipped
    for dirpath, dirnames, filenames in os.walk(top, onerror=unreadable):
        dirnames.sort()
        here = Path(dirpath)
        for name in dirnames:
            if (here / name).is_symlink():
                try:
                    confine(here / name, ingest.root)
                except Rejected as err:
                    ingest.reject((here / name).relative_to(top).as_posix(), "", err)
        for name in sorted(filenames):
            path = here / name
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            found += 1
            rel = path.relative_to(top)
            page = rel.parts[0] if len(rel.parts) > 1 else top.name

            def caption(sidecar=path.with_suffix(".txt")) -> tuple[str, bool]:
                if not os.path.lexists(sidecar):
                    return "", False
                try:  # a long caption file is read up to 4 bytes a character, then truncated like any caption
                    raw, cut = read_bounded(confine(sidecar, ingest.root), 4 * limits.max_caption_chars, truncate=True)
                except Rejected as err:
                    raise Rejected(err.reason, f"caption file {sidecar.name}: {err.detail}") from None
                return raw.decode("utf-8", errors="replace"), cut

            ingest.add(rel.as_posix(), page, rel.with_suffix("").as_posix(), path, caption)
    if not found:
        raise SutiError(f"corpus.path: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    return ingest.result()


def read_manifest(path: str | Path) -> pa.Table:
    """A manifest table with at least `path` and `caption` columns; one line naming the problem otherwise."""
    path = Path(path)
    if not path.is_file():
        raise SutiError(f"corpus.path: no such manifest: {path}")
    try:
        table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise SutiError(f"corpus.path: unreadable manifest {path}: {str(err).splitlines()[0]}") from err
    missing = {"path", "caption"} - set(table.column_names)
    if missing:
        raise SutiError(f"corpus.path: manifest {path} lacks column(s) {sorted(missing)}")
    return table


def from_manifest(path: str | Path, resolution: int, limits: IngestLimits = IngestLimits(),
                  root: str | Path = "") -> Ingested:
    """The corpus of a manifest; relative image paths are relative to the manifest's folder."""
    path = Path(path)
    manifest = read_manifest(path).to_pylist()
    ingest = _Ingest(_root(Path(os.path.realpath(path.parent)), root), f"manifest:{path}", resolution, limits)
    for i, entry in enumerate(manifest):
        listed = "" if entry["path"] is None else str(entry["path"])
        caption = "" if entry["caption"] is None else str(entry["caption"])
        ingest.add(listed, manifest_page(entry, path), f"{i:08d}", path.parent / listed, lambda c=caption: (c, False))
    return ingest.result()


def manifest_page(entry: dict, manifest: Path) -> str:
    """A manifest row's page: its `page` value, or else the name of the folder its image is in."""
    page = entry.get("page")
    if page is not None and str(page) != "":
        return str(page)
    listed = "" if entry["path"] is None else str(entry["path"])
    return (Path(manifest).parent / listed).parent.name


def split_shards(table: pa.Table, n_shards: int) -> list[pa.Table]:
    """Split a table into n_shards row ranges without splitting a page."""
    table = table.sort_by([("page_id", "ascending")])
    pages = np.asarray(table.column("page_id").to_pylist(), dtype=object)
    starts = np.flatnonzero(np.r_[True, pages[1:] != pages[:-1]])
    picks = np.linspace(0, len(starts), n_shards + 1)[1:-1].astype(int).clip(0, len(starts) - 1)
    cuts = [0] + [int(starts[k]) for k in picks] + [len(table)]
    return [table.slice(a, b - a) for a, b in zip(cuts[:-1], cuts[1:])]
