"""Dependency direction: client → store.base; cli → everything; the store never imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "runbase"

#: Sweep modules that run trials (through a client) and those that only read the store.
_SWEEPS_CLIENT_SIDE = (
    "runbase.sweeps._agent",
    "runbase.sweeps._coordinator",
    "runbase.sweeps._sweep",
    "runbase.sweeps._trial",
    "runbase.sweeps.report",
)
_SWEEPS_STORE_SIDE = (
    "runbase.sweeps.spec",
    "runbase.sweeps._space",
    "runbase.sweeps._optuna",
    "runbase.sweeps._journal",
    "runbase.sweeps._leases",
    "runbase.sweeps._results",
    "runbase.sweeps._types",
    "runbase.sweeps._progress",
)

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
        "runbase.sweeps",
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
    "runbase.client": ("runbase._fluent", "runbase.cli", "runbase.sweeps"),
    "runbase._fluent": ("runbase.sweeps", "runbase.cli"),
    "runbase.server": (
        "runbase.client",
        "runbase._fluent",
        "runbase.cli",
        "runbase._writer",
        *_SWEEPS_CLIENT_SIDE,
        "runbase.demo",
    ),
    # sweeps → client/store; never the server or the command line.
    "runbase.sweeps": (
        "runbase.server",
        "runbase.cli",
        "runbase._cli_sweeps",
        "runbase._cli_ui",
        "runbase.demo",
    ),
    # The importer reads a source and writes through a client, like any training script.
    "runbase.mlflow_import": ("runbase.server", "runbase.cli", "runbase._fluent", "runbase.sweeps"),
    "runbase._system_metrics": (
        "runbase._fluent",
        "runbase.server",
        "runbase.cli",
        "runbase.store",
    ),
    "runbase._gc": ("runbase.client", "runbase._fluent", "runbase.server", "runbase.sweeps"),
    "runbase.integrations": ("runbase.server", "runbase.cli", "runbase.store.sql"),
    "runbase.evaluation": ("runbase.server", "runbase.cli", "runbase.sweeps", "runbase.store"),
    # The read side of sweeps (what the server uses) needs only a store.
    **dict.fromkeys(_SWEEPS_STORE_SIDE, ("runbase.client", "runbase._fluent", "runbase._writer")),
}


def _within(module: str, banned: str) -> bool:
    """``module`` is ``banned`` or inside it (``runbase.cli`` does not cover ``runbase.client``;
    a prefix ending in a dot covers everything under it)."""
    if banned.endswith("."):
        return module.startswith(banned)
    return module == banned or module.startswith(banned + ".")


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
            bad = sorted(m for m in imported for b in banned if _within(m, b))
            assert not bad, f"{name} imports {bad}"


def test_no_relative_imports() -> None:
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{_module_name(path)} uses a relative import"
