"""Dependency direction: client → store.base; cli → everything; the store never imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "runbase"

# module prefix → runbase modules it must never import (directly).
FORBIDDEN = {
    "runbase.entities": ("runbase.store", "runbase.client", "runbase._fluent", "runbase.cli"),
    "runbase.model_entities": (
        "runbase.store",
        "runbase.client",
        "runbase._fluent",
        "runbase.cli",
    ),
    "runbase.errors": ("runbase.",),
    "runbase.store": (
        "runbase.client",
        "runbase._fluent",
        "runbase.cli",
        "runbase._writer",
        "runbase.server",
    ),
    "runbase.artifacts": (
        "runbase.store",
        "runbase.client",
        "runbase._fluent",
        "runbase.cli",
        "runbase.server",
    ),
    "runbase.data": ("runbase.store", "runbase.client", "runbase._fluent", "runbase.cli"),
    "runbase.client": ("runbase._fluent", "runbase.cli"),
    "runbase.server": ("runbase.client", "runbase._fluent", "runbase.cli", "runbase._writer"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_imports_point_downward(path: Path) -> None:
    name = _module_name(path)
    imported = {m for m in _imports(path) if m.startswith("runbase")}
    for prefix, banned in FORBIDDEN.items():
        if name == prefix or name.startswith(prefix + "."):
            bad = sorted(m for m in imported for b in banned if m == b or m.startswith(b))
            assert not bad, f"{name} imports {bad}"


def test_no_relative_imports() -> None:
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{_module_name(path)} uses a relative import"
