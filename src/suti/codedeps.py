"""The source files a command runs: the static import closure of a `suti` module.

Workflow rules declare these files as inputs, so an edit anywhere a stage's code reaches re-runs that stage and only
the stages it reaches. Imports are read from the syntax tree, function-level ones included (they run too); a parent
package's `__init__.py` counts, since importing `suti.a.b` executes `suti/a/__init__.py` first.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "suti"


def module_file(src: Path, module: str) -> Path | None:
    """The file of a dotted `suti` module under `src` (the folder holding suti/), or None if it is not one."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = src.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(src: Path, path: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(src: Path, path: Path) -> frozenset[str]:
    """Dotted names of the `suti` modules a file imports, anywhere in it (`from a import b` adds a.b when b is a
    module)."""
    return _imported_modules(src, path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _imported_modules(src: Path, path: Path, mtime_ns: int) -> frozenset[str]:
    """Cached per file version: planning asks for the closure of every rule's command, which share most files."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(src, path) if path.name == "__init__.py" else _module_name(src, path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(name for name in found
                     if module_file(src, name) is not None or src.joinpath(*name.split(".")).is_dir())


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@functools.lru_cache(maxsize=None)
def closure(src: Path, *roots: str) -> tuple[Path, ...]:
    """Every file the `roots` modules import, directly or not, themselves and parent packages included; sorted."""
    seen: set[str] = set()
    todo = [name for root in roots for name in _with_parents(root)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(src, name)
        if path is None:
            if src.joinpath(*name.split(".")).is_dir():
                continue  # a namespace package (no __init__.py): nothing runs
            raise ValueError(f"{name} is not a module under {src}")
        for imported in imported_modules(src, path):
            todo.extend(_with_parents(imported))
    return tuple(sorted(path for path in map(functools.partial(module_file, src), seen) if path is not None))
