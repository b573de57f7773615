"""What the figures were measured on: hardware, interpreters, versions, commit."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Run by each interpreter: proves the package imports there and reports its version.
_PROBE = (
    "import json, platform, {pkg}; "
    "print(json.dumps({{'python': platform.python_version(), 'version': {pkg}.__version__}}))"
)


class SetupError(Exception):
    """An interpreter cannot run its side of the benchmarks."""


def probe(python: str, package: str, hint: str) -> dict[str, str]:
    try:
        proc = subprocess.run(
            [python, "-c", _PROBE.format(pkg=package)], capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise SetupError(f"cannot run {python}: {exc}. {hint}") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise SetupError(f"{python} cannot import {package}: {last}. {hint}")
    info: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return info


def describe(mlflow_python: str) -> dict[str, Any]:
    runbase = probe(sys.executable, "runbase", "Run `make install` (or `make bench-deps`).")
    mlflow = probe(mlflow_python, "mlflow", "Run `make bench-deps`, or pass --mlflow-python.")
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": platform.platform(),
        "runbase_python": runbase["python"],
        "runbase_version": runbase["version"],
        "runbase_commit": _git_commit(),
        "mlflow_python": mlflow["python"],
        "mlflow_version": mlflow["version"],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str:
    """The checked-out commit, marked when the working tree differs from it."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, check=False, capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    return f"{commit} (with uncommitted changes)" if git("status", "--porcelain") else commit


def source_fingerprint() -> str:
    """Changes when any runbase source file does: a run that spans an edit is flagged."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    return digest.hexdigest()[:12]
