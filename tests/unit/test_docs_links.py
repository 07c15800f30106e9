"""The README and docs/ point at what exists: every relative markdown link resolves from its file, and every
repository path they name in backticks exists (what the benches write under bench/out/ aside)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "EXPERIMENTS.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
NAMED_PATH = re.compile(r"`((?:docs|bench|config|src|tests|workflow|notebooks|pretrained|\.ci)/[\w./-]+)`")
OUTPUTS = ("bench/out/",)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_and_named_paths_resolve(doc):
    text = doc.read_text()
    links = [t for t in LINK.findall(text) if not t.startswith(("http://", "https://", "#", "mailto:"))]
    missing = [t for t in links if not (doc.parent / t.split("#")[0]).exists()]
    missing += [p for p in (m.rstrip(".") for m in NAMED_PATH.findall(text))
                if not p.startswith(OUTPUTS) and not (REPO / p).exists()]
    assert not missing, f"{doc.name} names what does not exist: {missing}"
