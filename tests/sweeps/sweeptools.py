"""Helpers for sweep tests: a tiny objective module, agents as real processes, waiting.

The fixtures here are registered by ``conftest.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runbase.store import open_store
from runbase.sweeps._results import SweepReader

RUNBASE = [sys.executable, "-m", "runbase"]

#: Trial code for agents in other processes: ``objective.py:train``. Each step sleeps
#: ``SWEEP_TEST_DELAY`` seconds, so a test can catch a trial running.
OBJECTIVE = """
import os
import time

import runbase


def train(params):
    delay = float(os.environ.get("SWEEP_TEST_DELAY", "0"))
    steps = int(params.get("steps", 3))
    value = float(params["a"]) * 100 + float(params["b"])
    for step in range(steps):
        time.sleep(delay)
        runbase.report(value + (steps - step), step)
        if runbase.should_prune():
            return None
    return value
"""


@pytest.fixture
def objective_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "objective.py").write_text(OBJECTIVE)
    return folder


def grid_spec(objective_dir: Path, **extra: Any) -> dict[str, Any]:
    """Six configurations (a × b), each three steps."""
    return {
        "name": "grid",
        "method": "grid",
        "metric": {"name": "score", "goal": "minimize"},
        "function": "objective.py:train",
        "workdir": str(objective_dir),
        "heartbeat_timeout": 1.0,
        "parameters": {"a": [1, 2, 3], "b": [10, 20], "steps": 3},
        **extra,
    }


def env(delay: float = 0.0) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("RUNBASE_")}
    out["SWEEP_TEST_DELAY"] = str(delay)
    out["PYTHONWARNINGS"] = "ignore"
    return out


def start_agent(
    uri: str, sweep_id: str, log: Path, delay: float = 0.0, worker: int = 0
) -> subprocess.Popen[bytes]:
    command = [*RUNBASE, "agent", sweep_id, "--tracking-uri", uri, "--worker", str(worker)]
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env(delay))


def wait_all(procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for proc, log in zip(procs, logs, strict=True):
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
                p.wait()
            raise AssertionError(f"agent hung:\n{log.read_text()}") from None
        assert proc.returncode == 0, log.read_text()


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def reader_factory() -> Iterator[Callable[[str, str], SweepReader]]:
    stores = []

    def make(uri: str, sweep_id: str) -> SweepReader:
        store = open_store(uri)
        stores.append(store)
        return SweepReader(store, sweep_id)

    yield make
    for store in stores:
        store.close()


def completed_configs(reader: SweepReader) -> list[tuple[Any, Any]]:
    return sorted((t.params["a"], t.params["b"]) for t in reader.trials() if t.state == "COMPLETE")


GRID = sorted((a, b) for a in (1, 2, 3) for b in (10, 20))
