"""DreamBench (the dataset/ folder of google/dreambooth): loading, and fetching it onto a user's machine.

Layout read: `<root>/<subject>/<NN>.jpg` and `<root>/prompts_and_classes.txt` (upstream's own file: a
`subject_name,class` list, then the object and live prompt lists as Python `.format(unique_token, class_token)`
lines). Live subjects are the dogs and cats (upstream README: 9 live subjects, 21 objects).
"""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from suti.data import tables
from suti.data.images import decode_image, encode_png, square_resize
from suti.errors import SutiError

UPSTREAM_COMMIT = "4f887af7970a06fc0cd3adaa1d0b368547d6a1d0"
ARCHIVE_URL = f"https://github.com/google/dreambooth/archive/{UPSTREAM_COMMIT}.zip"
LIVE_CLASSES = frozenset({"dog", "cat"})
N_SUBJECTS, N_PROMPTS = 30, 25
_PROMPT_LINE = re.compile(r"""^'(.+)'\.format\(unique_token, class_token\),?$""")


@dataclasses.dataclass(frozen=True)
class DreamBenchSubject:
    name: str
    class_noun: str
    live: bool
    images: tuple[Path, ...]


@dataclasses.dataclass(frozen=True)
class DreamBench:
    subjects: tuple[DreamBenchSubject, ...]
    prompts: dict  # {"object": [25 templates], "live": [25 templates]}

    def prompts_for(self, subject: DreamBenchSubject) -> list[str]:
        return self.prompts["live" if subject.live else "object"]


def parse_prompts_and_classes(text: str) -> tuple[list[tuple[str, str]], dict]:
    """(subject, class) pairs and {"object": [...], "live": [...]} prompt templates from upstream's text file."""
    classes, prompts, section = [], {"object": [], "live": []}, None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("Object Prompts"):
            section = "object"
        elif line.startswith("Live Subject Prompts"):
            section = "live"
        elif section is None and "," in line and line != "subject_name,class":
            name, cls = line.split(",", 1)
            classes.append((name.strip(), cls.strip()))
        elif section and (m := _PROMPT_LINE.match(line)):
            prompts[section].append(m.group(1))
    return classes, prompts


def load_dreambench(root: str | Path) -> DreamBench:
    """Read DreamBench from `root`; a missing folder or file fails with one line saying how to get it."""
    root = Path(root)
    spec = root / "prompts_and_classes.txt"
    if not spec.exists():
        raise SutiError(f"dreambench.root: {spec} not found; fetch the dataset with "
                        f"`snakemake fetch_dreambench` (or `suti fetch-dreambench --out {root}`)")
    classes, prompts = parse_prompts_and_classes(spec.read_text())
    subjects = []
    for name, cls in classes:
        images = tuple(sorted(p for p in (root / name).glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}))
        if not images:
            raise SutiError(f"dreambench.root: no images for subject {name!r} in {root / name}")
        subjects.append(DreamBenchSubject(name, cls, cls in LIVE_CLASSES, images))
    return DreamBench(tuple(subjects), prompts)


def image_rows(bench: DreamBench, resolution: int) -> list[dict]:
    """One `tables.DREAMBENCH_IMAGES` row per photo, centre-cropped and resized to `resolution`."""
    rows = []
    for subject in bench.subjects:
        for path in subject.images:
            img = decode_image(path.read_bytes())
            if img is None:
                raise SutiError(f"dreambench: undecodable image {path}")
            rows.append(dict(subject=subject.name, class_noun=subject.class_noun, live=subject.live,
                             image_id=f"{subject.name}/{path.stem}", image=encode_png(square_resize(img, resolution))))
    return rows


def prompt_rows(bench: DreamBench) -> list[dict]:
    return [dict(kind=kind, index=i, template=t) for kind, ts in bench.prompts.items() for i, t in enumerate(ts)]


def index_tables(root: str | Path, resolution: int):
    """(images table, prompts table) for the `index_dreambench` rule."""
    bench = load_dreambench(root)
    return (tables.from_rows(image_rows(bench, resolution), tables.DREAMBENCH_IMAGES),
            tables.from_rows(prompt_rows(bench), tables.DREAMBENCH_PROMPTS))


def fetch_dreambench(dest: str | Path, url: str = ARCHIVE_URL, timeout: float = 60.0) -> Path:
    """Download upstream's archive at the pinned commit and unpack its dataset/ folder into `dest` (atomically)."""
    dest = Path(dest)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except (urllib.error.URLError, TimeoutError) as err:
        raise SutiError(f"could not download DreamBench from {url} ({err}); copy google/dreambooth's dataset/ "
                        f"folder to {dest} by hand") from err
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            archive.extractall(tmp)
        dataset = next(Path(tmp).glob("*/dataset"), None)
        if dataset is None:
            raise SutiError(f"the archive at {url} has no dataset/ folder")
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(dataset), dest)
    return dest
