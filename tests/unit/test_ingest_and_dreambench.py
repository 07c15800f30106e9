"""Real corpora (image folder, manifest) and the DreamBench loader."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from suti.data import dreambench, ingest, tables
from suti.data.images import decode_image
from suti.errors import SutiError


def _photo(path, colour, size=48):
    Image.fromarray(np.full((size, size + 16, 3), colour, np.uint8)).save(path)


def test_folder_ingest_pages_captions_and_corrupt_files(tmp_path):
    for page, colour in (("mugs", 200), ("vases", 50)):
        (tmp_path / page).mkdir()
        for i in range(3):
            _photo(tmp_path / page / f"{i}.png", colour)
            (tmp_path / page / f"{i}.txt").write_text(f"a photo of {page[:-1]} {i}\n")
    (tmp_path / "vases" / "broken.jpg").write_bytes(b"not a jpeg")
    table = ingest.from_folder(tmp_path, 32)
    assert table.schema == tables.CORPUS
    rows = table.to_pylist()
    assert len(rows) == 7 and {r["page_id"] for r in rows} == {"mugs", "vases"}
    good = [r for r in rows if r["image_id"] != "vases/broken"]
    assert all(decode_image(r["image"]).shape == (32, 32, 3) for r in good)
    assert decode_image(next(r for r in rows if r["image_id"] == "vases/broken")["image"]) is None
    assert next(r for r in rows if r["image_id"] == "mugs/1")["caption"] == "a photo of mug 1"
    assert sum(len(s) for s in ingest.split_shards(table, 2)) == 7


def test_manifest_ingest_csv_and_parquet(tmp_path):
    for i in range(4):
        _photo(tmp_path / f"{i}.png", 40 * i)
    (tmp_path / "m.csv").write_text("path,caption,page\n" + "".join(f"{i}.png,cap {i},p{i % 2}\n" for i in range(4)))
    rows = ingest.from_manifest(tmp_path / "m.csv", 32).to_pylist()
    assert [r["caption"] for r in rows] == ["cap 0", "cap 1", "cap 2", "cap 3"]
    assert {r["page_id"] for r in rows} == {"p0", "p1"}
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
    with pytest.raises(SutiError, match="no such image"):
        ingest.from_manifest(tmp_path / "m2.csv", 32)


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
