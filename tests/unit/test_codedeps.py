"""Code dependencies derived from imports (suti.codedeps): rules and DVC stages re-run on exactly the code they run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from suti import codedeps
from suti.cli import COMMANDS


def test_closure_follows_function_level_relative_and_parent_package_imports(tmp_path):
    pkg = tmp_path / "suti"
    for folder in ("a", "b", "ns"):
        (pkg / folder).mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a/__init__.py": "",
        "a/top.py": "from suti.b import lazy\n",
        "b/__init__.py": "",
        "b/lazy.py": "def f():\n    from . import deep\n    import numpy\n",
        "b/deep.py": "from ..ns import leaf\n",
        "ns/leaf.py": "x = 1\n",           # ns/ has no __init__.py: a namespace package
        "b/unused.py": "",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    found = {str(p.relative_to(pkg)) for p in codedeps.closure(tmp_path, "suti.a.top")}
    assert found == {"__init__.py", "a/__init__.py", "a/top.py", "b/__init__.py", "b/lazy.py", "b/deep.py",
                     "ns/leaf.py"}


def _closure(repo: Path, command: str) -> set[str]:
    stage = f"suti.stages.{COMMANDS[command].partition(':')[0]}"
    return {str(p.relative_to(repo)) for p in codedeps.closure(repo / "src", "suti.cli", stage)}


def test_sampling_rules_depend_on_the_inference_code_they_call(repo):
    """TextToImagePipeline.sample runs models/inference.py and diffusion/samplers.py: editing either re-runs
    eval_base and sample_priors, never build_corpus."""
    shared = {"src/suti/models/inference.py", "src/suti/diffusion/samplers.py"}
    for command in ("eval-base", "sample-priors"):
        files = _closure(repo, command)
        assert shared | {"src/suti/tracking.py", "src/suti/cli.py"} <= files, command
    assert not shared & _closure(repo, "build-corpus")


def _rules(repo: Path) -> dict[str, tuple[str, list[str]]]:
    """rule name -> (its `suti` command, the literal results/ paths of its outputs), read from the .smk files (a
    replicated rule's `{root}/` is replicate 0's results/)."""
    rules = {}
    for smk in sorted((repo / "workflow/rules").glob("*.smk")):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", smk.read_text(), re.S | re.M):
            command = re.search(r'"suti ([a-z-]+)', body)
            output = re.search(r"\n    output:(.*?)\n    [a-z_]+:", body, re.S)
            if command and output:
                outputs = output.group(1).replace('"{root}/', '"results/').replace("f\"{{root}}/", 'f"results/')
                rules[name] = (command.group(1), re.findall(r'"(results/[^"{]+)', outputs))
    return rules


def test_dvc_stage_deps_cover_the_code_of_their_rules(repo):
    """Each DVC stage runs a Snakemake target; its code deps must cover the import closure of every rule writing
    into its outs (a folder dep covers the files under it)."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    rules = _rules(repo)
    assert len(rules) >= 20
    for name, stage in stages.items():
        outs = [next(iter(o)) if isinstance(o, dict) else o for key in ("outs", "metrics") for o in stage.get(key, [])]
        mine = {command for command, paths in rules.values()
                if any(p.startswith(o) or o.startswith(p.rstrip("/")) for p in paths for o in outs)}
        assert mine, name
        deps = [d for d in stage["deps"] if d.startswith("src/")]
        needed = set().union(*(_closure(repo, c) for c in mine))
        uncovered = sorted(f for f in needed if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps))
        assert not uncovered, f"dvc.yaml stage {name} ({sorted(mine)}) lacks deps {uncovered}"
