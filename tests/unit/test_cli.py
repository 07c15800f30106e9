"""The `suti` command: stages run by hand with explicit paths; user errors are one line, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq

PARAMS = json.dumps({"seed": 0, "world": {"resolution": 32, "n_subjects": 1000, "n_distractor_subjects": 20},
                     "corpus": {"n_pages": 6, "n_shards": 2},
                     "mining": {"heldout_fraction": 0.2, "embedder": "color_shape", "similarity_threshold": 0.85}})


def suti(*args):
    return subprocess.run([sys.executable, "-m", "suti.cli", *map(str, args)], capture_output=True, text=True)


def test_stages_by_hand(tmp_path):
    shards = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    r = suti("build-corpus", "--params", PARAMS, "--shards", *shards, "--rejected", tmp_path / "rejected.parquet",
             "--summary", tmp_path / "corpus.json",
             "--preview", tmp_path / "corpus.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "corpus.png").stat().st_size > 0 and (tmp_path / "corpus.parquet").exists()
    r = suti("mine-clusters", "--params", PARAMS, "--corpus", *shards, "--clusters", tmp_path / "clusters.parquet",
             "--summary", tmp_path / "mining.json", "--preview", tmp_path / "mining.png")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "mining.json").read_text())
    assert summary["clusters_kept"] == len(set(pq.read_table(tmp_path / "clusters.parquet")["cluster_id"].to_pylist()))
    assert "purity" in summary and "images_corrupt" in summary


def test_missing_input_is_one_line(tmp_path):
    r = suti("mine-clusters", "--params", PARAMS, "--corpus", tmp_path / "missing.parquet",
             "--clusters", tmp_path / "c.parquet", "--summary", tmp_path / "s.json", "--preview", tmp_path / "p.png")
    assert r.returncode == 2
    assert r.stderr.strip() == f"suti: error: no such table: {tmp_path / 'missing.parquet'}"
    assert not (tmp_path / "c.parquet").exists()


def test_unreadable_table_and_bad_params_are_one_line(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    r = suti("mine-clusters", "--params", PARAMS, "--corpus", tmp_path / "bad.parquet",
             "--clusters", tmp_path / "c.parquet", "--summary", tmp_path / "s.json", "--preview", tmp_path / "p.png")
    assert r.returncode == 2 and r.stderr.startswith("suti: error: unreadable parquet table")
    assert len(r.stderr.strip().splitlines()) == 1
    r = suti("build-corpus", "--params", "{oops", "--shards", "x", "--summary", "y", "--preview", "z")
    assert r.returncode == 2 and "not valid JSON" in r.stderr and "Traceback" not in r.stderr


def test_real_corpus_with_missing_folder_is_one_line(tmp_path):
    params = json.loads(PARAMS)
    params["corpus"].update(source="folder", path=str(tmp_path / "nowhere"), n_shards=1)
    r = suti("build-corpus", "--params", json.dumps(params), "--shards", tmp_path / "a.parquet",
             "--rejected", tmp_path / "r.parquet", "--summary", tmp_path / "s.json", "--preview", tmp_path / "p.png")
    assert r.returncode == 2
    assert r.stderr.strip() == f"suti: error: corpus.path: no such folder: {tmp_path / 'nowhere'}"


def test_every_command_has_help(capsys):
    """argparse formats help strings with %: a stray "95%" breaks `--help` of that command only."""
    import pytest

    from suti.cli import COMMANDS, parser

    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_:
            parser().parse_args([name, "--help"])
        assert exit_.value.code == 0, name
    assert "usage: suti" in capsys.readouterr().out


def test_missing_weights_fail_before_the_stage_imports_torch_or_jax(tmp_path):
    """`suti score-eval` with pretrained CLIP weights absent offline: one line, from the preflight, before the stage
    module (JAX, torch, open_clip) is imported."""
    params = json.dumps({"scoring": {"clip": {"model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"}}})
    code = ("import sys; from suti import cli; "
            f"rc = cli.main(['score-eval', '--params', {params!r}, '--generations', 'g', '--out', 'o', "
            "'--summary', 's']); print(rc, 'torch' in sys.modules, 'jax' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env=dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(tmp_path / "hub")))
    assert r.stdout.split() == ["2", "False", "False"], r.stderr
    assert r.stderr.startswith("suti: error: scoring.clip.model: no weights for open_clip 'ViT-B-32'")
    assert r.stderr.count("\n") == 1


def test_check_config_names_file_line_and_key(tmp_path, repo):
    (tmp_path / "bad.yaml").write_text("filter:\n  taus: [0.1,\n")
    r = suti("check-config", "--defaults", repo / "config/config.yaml",
             "--schema", repo / "workflow/schemas/config.schema.yaml", tmp_path / "bad.yaml")
    assert r.returncode == 2 and r.stderr.startswith(f"suti: error: config error: {tmp_path / 'bad.yaml'} line 3")
    (tmp_path / "demos.yaml").write_text("apprentice:\n  demos: 7\n")
    r = suti("check-config", "--defaults", repo / "config/config.yaml",
             "--schema", repo / "workflow/schemas/config.schema.yaml", repo / "config/micro.yaml", tmp_path / "demos.yaml")
    assert r.returncode == 2
    assert r.stderr.strip() == (f"suti: error: config error: {tmp_path / 'demos.yaml'}: apprentice.demos = 7: the "
                                "apprentice takes at most apprentice.max_demos = 5 demonstrations")
    r = suti("check-config", "--defaults", repo / "config/config.yaml",
             "--schema", repo / "workflow/schemas/config.schema.yaml", repo / "config/micro.yaml")
    assert r.returncode == 0, r.stderr
