"""A hostile real-image corpus, generated on the fly (never committed as binaries): a folder and a manifest over
the same files, with every kind of bad input beside good SynthBench pages, and secret files outside the root that
nothing may open."""

from __future__ import annotations

import dataclasses
import os
import struct
import zlib
from pathlib import Path

from PIL import Image

from suti.data.corpus import CorpusConfig, NoiseConfig, make_page
from suti.world.config import WorldConfig

SECRET_COLOUR = (1, 2, 3)  # the secret image's only colour
LONG_CAPTION = "a photo of a very long caption " * 400  # ~12,400 characters


def forged_png(width: int, height: int) -> bytes:
    """A tiny PNG file whose header claims width x height pixels: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
            + chunk(b"IEND", b""))


@dataclasses.dataclass
class HostileCorpus:
    root: Path                 # the corpus folder (corpus.path for source folder)
    manifest: Path             # root/manifest.csv (corpus.path for source manifest)
    secrets: list[Path]        # files outside the root that rows and symlinks point at
    good: int                  # good images (the folder's; the manifest lists the same ones)
    expected: dict             # folder source: reason -> count
    expected_manifest: dict    # manifest source: reason -> count


def make_hostile_corpus(base: Path, n_pages: int = 6, resolution: int = 32) -> HostileCorpus:
    root, outside = base / "corpus", base / "outside"
    root.mkdir(parents=True)
    outside.mkdir()
    secret_txt, secret_png = outside / "secret.txt", outside / "secret.png"
    secret_txt.write_text("top secret caption")
    cfg = CorpusConfig(n_pages=n_pages, images_per_page=(4, 4), noise=NoiseConfig(0, 0, 0, 0, 0))
    rows = []
    for page in range(n_pages):
        for row in make_page(page, 0, WorldConfig(n_subjects=1000, resolution=resolution), cfg):
            folder = root / row["page_id"]
            folder.mkdir(exist_ok=True)
            name = row["image_id"].split("-")[-1]
            (folder / f"{name}.png").write_bytes(row["image"])
            (folder / f"{name}.txt").write_text(row["caption"])
            rows.append((f"{row['page_id']}/{name}.png", row["caption"], row["page_id"]))
    Image.new("RGB", (resolution, resolution), SECRET_COLOUR).save(secret_png)  # valid: only confinement stops it
    good = len(rows)
    bad = root / "page000000"
    (bad / "link.png").symlink_to(secret_png)                          # outside_root (symlinked image)
    (bad / "stolen.png").write_bytes((root / rows[1][0]).read_bytes())
    (bad / "stolen.txt").symlink_to(secret_txt)                        # outside_root (symlinked caption)
    (root / "linked_pages").symlink_to(outside, target_is_directory=True)  # outside_root (symlinked folder)
    (bad / "dangling.png").symlink_to(bad / "nowhere.png")             # missing
    full = (root / rows[2][0]).read_bytes()
    hostile = {"truncated.png": full[: len(full) // 2],                # corrupt
               "text.png": b"this is not an image at all\n",           # corrupt
               "bomb.png": forged_png(100_000, 100_000)}               # too_large
    for name, data in hostile.items():
        (bad / name).write_bytes(data)
        (bad / name).with_suffix(".txt").write_text("a photo of a mug")
    (bad / "blank.png").write_bytes((root / rows[3][0]).read_bytes())
    (bad / "blank.txt").write_text("  \n\t ")                          # empty_caption
    (bad / "long.png").write_bytes((root / rows[3][0]).read_bytes())
    (bad / "long.txt").write_text(LONG_CAPTION)                        # caption_truncated (kept)
    expected = dict(outside_root=3, missing=1, unreadable=0, corrupt=2, too_large=1, empty_caption=1,
                    caption_truncated=1)
    lines = ["path,caption,page"] + [f"{p},{c},{g}" for p, c, g in rows] + [
        f"../outside/{secret_png.name},a photo of a mug,evil",          # outside_root ('..')
        f"{secret_png},a photo of a mug,evil",                           # outside_root (absolute)
        "page000000/link.png,a photo of a mug,evil",                     # outside_root (symlink)
        "page000000/absent.png,a photo of a mug,evil",                   # missing
        "page000000/truncated.png,a photo of a mug,evil",                # corrupt
        "page000000/text.png,a photo of a mug,evil",                     # corrupt
        "page000000/bomb.png,a photo of a mug,evil",                     # too_large
        "page000000/blank.png,,evil",                                    # empty_caption
        f"page000000/long.png,{LONG_CAPTION},evil",                      # caption_truncated (kept)
    ]
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    expected_manifest = dict(expected)
    assert os.path.islink(bad / "link.png")
    return HostileCorpus(root, manifest, [secret_txt, secret_png], good, expected, expected_manifest)
