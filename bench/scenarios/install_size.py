"""What installing costs: distributions and disk space of a fresh venv with ``pip install .``
(runbase's base install) against ``pip install mlflow==3.17.2``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from scenarios import _cache
from scenarios._spec import Case, Figure, Result, Scenario, Target, Tool

ROOT = Path(__file__).resolve().parents[2]
MLFLOW = "mlflow==3.17.2"


def _requirement(tool: Tool) -> str:
    return str(ROOT) if tool == "runbase" else MLFLOW


def _fill(folder: Path, tool: Tool) -> None:
    """A bare venv (what the install is measured against) and one with the tool installed."""
    for name in ("bare", "venv"):
        subprocess.run([sys.executable, "-m", "venv", str(folder / name)], check=True)
    start = time.perf_counter()
    pip = [str(folder / "venv" / "bin" / "python"), "-m", "pip", "install", "-q"]
    proc = subprocess.run([*pip, _requirement(tool)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install {_requirement(tool)} failed:\n{proc.stderr[-3000:]}")
    (folder / "install_s").write_text(f"{time.perf_counter() - start}")


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise RuntimeError(f"no single site-packages in {venv}: {found}")
    return found[0]


def distributions(venv: Path) -> set[str]:
    """Names of the distributions installed in a venv, from their ``*.dist-info`` metadata."""
    names = set()
    for info in _site_packages(venv).glob("*.dist-info"):
        for line in (info / "METADATA").read_text(errors="replace").splitlines():
            if line.startswith("Name:"):
                names.add(line.split(":", 1)[1].strip().lower().replace("_", "-"))
                break
    return names


def disk_usage(folder: Path) -> int:
    """Bytes on disk, as ``du`` counts them: allocated blocks, hard links once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _, files in os.walk(folder):
        for name in [".", *files]:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def install(tool: Tool, fresh: bool) -> Result:
    """Install into a new venv (``fresh``), or reuse the one kept in ``bench/out/cache/`` for
    the same requirement (runbase: the same ``pyproject.toml``) and Python."""
    if fresh:
        folder = Path.cwd() / "install"
        folder.mkdir()
        _fill(folder, tool)
        reused = False
    else:
        parts = {"requirement": MLFLOW if tool == "mlflow" else "runbase", "python": sys.version}
        files = [ROOT / "pyproject.toml"] if tool == "runbase" else []
        folder, built = _cache.entry(
            f"install-{tool}", _cache.digest(parts, files), lambda f: _fill(f, tool)
        )
        reused = built is None
    bare, venv = folder / "bare", folder / "venv"
    added = distributions(venv) - distributions(bare)
    name = "runbase" if tool == "runbase" else "mlflow"
    if name not in added:
        raise RuntimeError(f"{name} is not among the installed distributions: {sorted(added)}")
    size, bare_size = disk_usage(venv), disk_usage(bare)
    return {
        "value": len(added),
        "added_mib": (size - bare_size) / 2**20,
        "venv_mib": size / 2**20,
        "bare_venv_mib": bare_size / 2**20,
        "install_s": float((folder / "install_s").read_text()),
        "reused_venv": reused,
        "distributions": sorted(added),
    }


def _case(tool: Tool) -> Case:
    return Case(tool, "install", {"tool": tool, "fresh": True}, quick={"fresh": False})


SCENARIO = Scenario(
    name="install_size",
    title="Install size",
    section="Footprint",
    module=__name__,
    about=(
        "A new venv (`python -m venv`, the interpreter of each tool's bench venv) gets "
        f"`pip install .` of this checkout (runbase's base install: client, store, server, UI, "
        f"sweeps) or `pip install {MLFLOW}`, from the package registry, with pip's cache as it "
        "is. Counted: the distributions the install added (`*.dist-info` in site-packages, "
        "less those of a bare venv: pip, setuptools; the tool itself included) and the disk "
        "space they take (`du`-style blocks of the venv less the bare venv's). `install_s` is "
        "the seconds pip took (network and cache dependent, so not a figure). A full run "
        "installs for real each time; `--quick` reuses the venvs kept in `bench/out/cache/` "
        "for the same `pyproject.toml` (runbase) or MLflow version and the same Python "
        "(`reused_venv`), installing only when there is none."
    ),
    figures=(
        Figure(
            "distributions installed",
            "packages",
            "lower",
            _case("runbase"),
            _case("mlflow"),
            Target("<=", 30, "≤ 30 packages"),
        ),
        Figure(
            "disk space of the installed distributions",
            "MiB",
            "lower",
            _case("runbase"),
            _case("mlflow"),
            field="added_mib",
        ),
    ),
    repeats=1,
    timeout=1_800.0,
)
