"""Real corpora (image folder, manifest) and the DreamBench loader."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from PIL import Image

from suti.data import dreambench, ingest, tables
from suti.data.images import decode_image
from suti.errors import SutiError
from hostile import SECRET_COLOUR, make_hostile_corpus


def _photo(path, colour, size=48):
    Image.fromarray(np.full((size, size + 16, 3), colour, np.uint8)).save(path)


def test_folder_ingest_pages_captions_and_a_corrupt_file(tmp_path):
    for page, colour in (("mugs", 200), ("vases", 50)):
        (tmp_path / page).mkdir()
        for i in range(3):
            _photo(tmp_path / page / f"{i}.png", colour)
            (tmp_path / page / f"{i}.txt").write_text(f"a photo of {page[:-1]} {i}\n")
    (tmp_path / "vases" / "broken.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "vases" / "broken.txt").write_text("a photo of a vase")
    done = ingest.from_folder(tmp_path, 32)
    assert done.table.schema == tables.CORPUS and done.rejected.schema == tables.REJECTED
    rows = done.table.to_pylist()
    assert len(rows) == 6 and {r["page_id"] for r in rows} == {"mugs", "vases"}
    assert all(decode_image(r["image"]).shape == (32, 32, 3) for r in rows)
    assert next(r for r in rows if r["image_id"] == "mugs/1")["caption"] == "a photo of mug 1"
    assert done.rejected.to_pylist() == [dict(path="vases/broken.jpg", page_id="vases", reason="corrupt",
                                              detail=done.rejected.column("detail")[0].as_py())]
    assert sum(len(s) for s in ingest.split_shards(done.table, 2)) == 6


def test_manifest_ingest_csv_and_parquet(tmp_path):
    for i in range(4):
        _photo(tmp_path / f"{i}.png", 40 * i)
    (tmp_path / "m.csv").write_text("path,caption,page\n" + "".join(f"{i}.png,cap {i},p{i % 2}\n" for i in range(3))
                                    + "3.png,cap 3,\n")
    rows = ingest.from_manifest(tmp_path / "m.csv", 32).table.to_pylist()
    assert [r["caption"] for r in rows] == ["cap 0", "cap 1", "cap 2", "cap 3"]
    assert [r["page_id"] for r in rows] == ["p0", "p1", "p0", tmp_path.name]  # no page: the image's folder
    tables.from_rows([dict(page_id="x", image_id="y", caption="c")], tables.CORPUS)  # nulls allowed


def test_bad_corpus_inputs_fail_with_one_line(tmp_path):
    with pytest.raises(SutiError, match="no such folder"):
        ingest.from_folder(tmp_path / "nope", 32)
    with pytest.raises(SutiError, match="no such manifest"):
        ingest.from_manifest(tmp_path / "nope.csv", 32)
    (tmp_path / "bad.parquet").write_bytes(b"garbage")
    with pytest.raises(SutiError, match="unreadable manifest") as err:
        ingest.from_manifest(tmp_path / "bad.parquet", 32)
    assert "\n" not in str(err.value)
    (tmp_path / "m.csv").write_text("file,text\na.png,hi\n")
    with pytest.raises(SutiError, match="lacks column"):
        ingest.from_manifest(tmp_path / "m.csv", 32)
    (tmp_path / "m2.csv").write_text("path,caption\nmissing.png,hi\n")
    with pytest.raises(SutiError, match=r"nothing usable in .*m2.csv \(1 inputs rejected: 1 missing\)") as err:
        ingest.from_manifest(tmp_path / "m2.csv", 32)
    assert "\n" not in str(err.value)


def test_dreambench_counts_classes_and_prompts(dreambench_root):
    bench = dreambench.load_dreambench(dreambench_root)
    assert len(bench.subjects) == dreambench.N_SUBJECTS
    assert sum(len(s.images) for s in bench.subjects) == 158
    assert sum(s.live for s in bench.subjects) == 9
    assert {k: len(v) for k, v in bench.prompts.items()} == {"object": 25, "live": 25}
    dog = next(s for s in bench.subjects if s.name == "dog")
    assert dog.live and dog.class_noun == "dog"
    assert bench.prompts_for(dog)[10] == "a {0} {1} wearing a red hat"
    assert bench.prompts["object"][0].format("sks", "backpack") == "a sks backpack in the jungle"
    assert len(bench.subjects) * dreambench.N_PROMPTS * 4 == 3000  # generations per method at paper settings


def test_dreambench_index_tables(dreambench_root):
    images, prompts = dreambench.index_tables(dreambench_root, 32)
    assert images.schema == tables.DREAMBENCH_IMAGES and len(images) == 158
    assert decode_image(images.column("image")[0].as_py()).shape == (32, 32, 3)
    assert prompts.schema == tables.DREAMBENCH_PROMPTS and len(prompts) == 50


def test_dreambench_missing_root_says_how_to_fetch(tmp_path):
    with pytest.raises(SutiError, match="fetch_dreambench"):
        dreambench.load_dreambench(tmp_path)


# --- untrusted inputs: a hostile corpus (tests/hostile.py) --------------------------------------------------------

_OPENED: list[str] = []


def _audit(event, args):
    """Records every path the process opens (builtin open, os.open, PIL, pyarrow's Python-side opens)."""
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_audit)


@pytest.mark.parametrize("source", ["folder", "manifest"])
def test_hostile_corpus_keeps_good_pages_and_records_every_bad_input(tmp_path, source):
    corpus = make_hostile_corpus(tmp_path)
    corpus.secrets[0].read_text()
    assert str(corpus.secrets[0].resolve()) in _OPENED  # the hook sees a read of a secret
    _OPENED.clear()
    if source == "folder":
        done, expected = ingest.from_folder(corpus.root, 32), corpus.expected
    else:
        done, expected = ingest.from_manifest(corpus.manifest, 32), corpus.expected_manifest
    opened = set(_OPENED)
    assert not opened & {str(p.resolve()) for p in corpus.secrets}  # nothing outside the root was opened
    assert opened and all(p.startswith(str(corpus.root.resolve())) for p in opened if p.endswith((".png", ".txt")))
    assert done.counts() == expected
    rejected = done.rejected.to_pylist()
    assert all(r["detail"] and r["path"] for r in rejected)
    rows = done.table.to_pylist()
    assert len(rows) == corpus.good + 1  # every good image, and the one with its caption truncated
    assert all(decode_image(r["image"]).shape == (32, 32, 3) for r in rows)
    assert max(len(r["caption"]) for r in rows) == 1000
    assert not any("secret" in r["caption"] for r in rows)
    assert not any((decode_image(r["image"]) == SECRET_COLOUR).all() for r in rows)


def test_hostile_inputs_name_their_reason(tmp_path):
    corpus = make_hostile_corpus(tmp_path)
    reasons = {r["path"]: r["reason"] for r in ingest.from_folder(corpus.root, 32).rejected.to_pylist()}
    assert reasons == {
        "page000000/link.png": "outside_root", "page000000/stolen.png": "outside_root",
        "linked_pages": "outside_root", "page000000/dangling.png": "missing",
        "page000000/truncated.png": "corrupt", "page000000/text.png": "corrupt", "page000000/bomb.png": "too_large",
        "page000000/blank.png": "empty_caption", "page000000/long.png": "caption_truncated"}


def test_ingest_limits_pixels_bytes_and_caption_length(tmp_path):
    _photo(tmp_path / "a.png", 100, size=40)  # 40 x 56 px
    (tmp_path / "a.txt").write_text("a photo of a mug " * 5)
    tight = ingest.IngestLimits(max_pixels=40 * 56 - 1, max_file_mb=1.0, max_caption_chars=10)
    with pytest.raises(SutiError, match="1 too_large"):
        ingest.from_folder(tmp_path, 32, tight)
    with pytest.raises(SutiError, match="1 too_large"):
        ingest.from_folder(tmp_path, 32, ingest.IngestLimits(max_file_mb=1e-5))
    done = ingest.from_folder(tmp_path, 32, ingest.IngestLimits(max_caption_chars=10))
    assert done.table.column("caption").to_pylist() == ["a photo of"]
    assert done.counts()["caption_truncated"] == 1


def test_corpus_root_confines_a_manifest_and_must_contain_the_folder(tmp_path):
    corpus = make_hostile_corpus(tmp_path)
    inner = corpus.root / "page000001"
    (inner / "m.csv").write_text("path,caption\n../page000002/00.png,a photo of a mug\n00.png,a photo of a mug\n")
    done = ingest.from_manifest(inner / "m.csv", 32)  # root: the manifest's folder
    assert done.counts()["outside_root"] == 1 and len(done.table) == 1
    assert len(ingest.from_manifest(inner / "m.csv", 32, root=corpus.root).table) == 2
    with pytest.raises(SutiError, match="corpus.root"):
        ingest.from_folder(corpus.root, 32, root=inner)


def test_unreadable_files_other_formats_and_long_caption_files(tmp_path, monkeypatch):
    """An I/O error is counted, never fatal; only the listed image formats are decoded (an EPS file named .png is
    corrupt, never handed to Ghostscript); a caption file of any length is read in part and truncated."""
    for name in ("a", "b", "c"):
        _photo(tmp_path / f"{name}.png", 90)
        (tmp_path / f"{name}.txt").write_text("a photo of a mug")
    (tmp_path / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    (tmp_path / "eps.txt").write_text("a photo of a mug")
    (tmp_path / "c.txt").write_text("word " * 5000)  # 25,000 characters
    real_open = open

    def flaky_open(path, *args, **kwargs):
        if str(path).endswith("b.png"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(ingest, "open", flaky_open, raising=False)
    done = ingest.from_folder(tmp_path, 32)
    reasons = {r["path"]: r["reason"] for r in done.rejected.to_pylist()}
    assert reasons == {"b.png": "unreadable", "eps.png": "corrupt", "c.png": "caption_truncated"}
    assert sorted(done.table.column("image_id").to_pylist()) == ["a", "c"]
    assert len(done.table.column("caption")[1].as_py()) == 1000
