"""Runs the measurements: each in a fresh subprocess of the right interpreter, on a fresh store,
runbase and MLflow alternating."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scenarios import Case, Scenario

WORKER = Path(__file__).resolve().parent / "_worker.py"

#: Variables that would point a tool at another store or experiment than the fresh one.
_CLEARED = (
    "RUNBASE_TRACKING_URI",
    "RUNBASE_EXPERIMENT_NAME",
    "RUNBASE_EXPERIMENT_ID",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_ENABLE_ASYNC_LOGGING",
)


@dataclass(frozen=True)
class Measurement:
    scenario: str
    case: str
    tool: str
    repeat: int
    wall_seconds: float
    result: dict[str, Any] | None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def schedule(scenario: Scenario, repeats: int) -> list[tuple[int, Case]]:
    """Every case once per repeat, runbase and MLflow alternating; every other repeat runs in
    reverse order, so a slow drift of the machine does not always favour the same tool."""
    cases = scenario.cases()
    plan: list[tuple[int, Case]] = []
    for repeat in range(repeats):
        plan.extend((repeat, case) for case in (cases if repeat % 2 == 0 else cases[::-1]))
    return plan


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    # MLflow's usage telemetry would make network calls in the background of a measurement.
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    # Bytecode caching as Python does by default: without it an editable install recompiles
    # every module of the package at each import.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure(scenario: Scenario, case: Case, repeat: int, python: str, quick: bool) -> Measurement:
    """One measurement in a new interpreter whose working directory is a new temporary folder."""
    with tempfile.TemporaryDirectory(prefix="runbase-bench-") as tmp:
        store = Path(tmp) / "store"
        store.mkdir()
        out = Path(tmp) / "result.json"
        command = [
            python,
            str(WORKER),
            scenario.module,
            case.func,
            json.dumps(case.arguments(quick)),
            str(out),
        ]
        start = time.perf_counter()
        error = _run(command, store, scenario.timeout)
        wall = time.perf_counter() - start
        result = json.loads(out.read_text()) if error is None else None
    return Measurement(scenario.name, case.key(quick), case.tool, repeat, wall, result, error)


def _run(command: list[str], cwd: Path, timeout: float) -> str | None:
    """Run the worker; return None on success, else the end of its error output."""
    try:
        proc = subprocess.run(
            command,
            cwd=cwd,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    except OSError as exc:
        return f"cannot start {command[0]}: {exc}"
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-15:]
        return "\n".join(tail) or f"exit status {proc.returncode}"
    return None


def run_all(
    scenarios: list[Scenario], pythons: dict[str, str], quick: bool, repeats: int | None
) -> list[Measurement]:
    plans = [
        (scenario, schedule(scenario, repeats or _repeats(scenario, quick)))
        for scenario in scenarios
    ]
    total = sum(len(plan) for _, plan in plans)
    done = 0
    measurements: list[Measurement] = []
    for scenario, plan in plans:
        for repeat, case in plan:
            done += 1
            m = measure(scenario, case, repeat, pythons[case.tool], quick)
            _progress(done, total, m)
            measurements.append(m)
    return measurements


def _repeats(scenario: Scenario, quick: bool) -> int:
    return scenario.quick_repeats if quick else scenario.repeats


def _progress(done: int, total: int, m: Measurement) -> None:
    what = "FAILED" if m.result is None else f"{m.result['value']:,.4g}"
    print(
        f"[{done}/{total}] {m.scenario:<10} {m.case:<60.60} {what:>12}  ({m.wall_seconds:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    if m.error:
        print(m.error, file=sys.stderr, flush=True)
