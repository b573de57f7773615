"""Runs the measurements: each in a fresh subprocess of the right interpreter, on a fresh store,
runbase and MLflow alternating."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from scenarios import Case, Scenario

WORKER = Path(__file__).resolve().parent / "_worker.py"

#: What a measurement's worker is told, as environment variables: the interpreter of each tool
#: (a server scenario starts runbase's server from a worker in MLflow's interpreter), which one
#: it runs in, and the file where it lists the process groups of the servers it starts.
ENV_PYTHON = {"runbase": "BENCH_PYTHON_RUNBASE", "mlflow": "BENCH_PYTHON_MLFLOW"}
ENV_INTERPRETER = "BENCH_INTERPRETER"
ENV_SERVERS = "BENCH_SERVERS"
ENV_SHARED = "BENCH_SHARED"

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


def schedule(scenario: Scenario, repeats: int, quick: bool) -> list[tuple[int, Case]]:
    """Every case once per repeat, runbase and MLflow alternating; every other repeat runs in
    reverse order, so a slow drift of the machine does not always favour the same tool."""
    cases = scenario.cases(quick)
    plan: list[tuple[int, Case]] = []
    for repeat in range(repeats):
        plan.extend((repeat, case) for case in (cases if repeat % 2 == 0 else cases[::-1]))
    return plan


def child_env(pythons: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    for tool, python in (pythons or {}).items():
        env[ENV_PYTHON[tool]] = python
    # MLflow's usage telemetry would make network calls in the background of a measurement.
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    # Bytecode caching as Python does by default: without it an editable install recompiles
    # every module of the package at each import.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def measure(
    scenario: Scenario, case: Case, repeat: int, pythons: dict[str, str], quick: bool
) -> Measurement:
    """One measurement in a new interpreter whose working directory is a new temporary folder."""
    with tempfile.TemporaryDirectory(prefix="runbase-bench-") as tmp:
        store = Path(tmp) / "store"
        store.mkdir()
        out = Path(tmp) / "result.json"
        servers = Path(tmp) / "servers.pgid"
        command = [
            pythons[case.python],
            str(WORKER),
            scenario.module,
            case.func,
            json.dumps(case.arguments(quick)),
            str(out),
        ]
        env = child_env(pythons)
        env[ENV_INTERPRETER] = case.python
        env[ENV_SERVERS] = str(servers)
        start = time.perf_counter()
        try:
            error = _run(command, store, env, scenario.timeout)
        finally:
            _kill_leftover_servers(servers, store)
        wall = time.perf_counter() - start
        result = json.loads(out.read_text()) if error is None else None
    return Measurement(scenario.name, case.key(quick), case.tool, repeat, wall, result, error)


def _kill_leftover_servers(listing: Path, store: Path) -> None:
    """A worker stops the servers it started; one that failed or timed out may not have. Each
    listed process group (a server started in a session of its own) is killed if it is still
    there, and only if it is still ours: while its leader lives, the leader's command line names
    this measurement's folder; once the leader is gone, Linux does not hand its id to a new
    process while members of the group remain, so any members left are the server's workers."""
    try:
        groups = [int(line) for line in listing.read_text().split()]
    except (OSError, ValueError):
        return
    for pgid in groups:
        try:
            ours = str(store).encode() in Path(f"/proc/{pgid}/cmdline").read_bytes()
        except OSError:
            ours = True  # the leader is gone: what is left of its group is the server's
        if ours:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> str | None:
    """Run the worker; return None on success, else the end of its error output."""
    try:
        proc = subprocess.run(
            command,
            cwd=cwd,
            env=env,
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
        (scenario, schedule(scenario, repeats or _repeats(scenario, quick), quick))
        for scenario in scenarios
    ]
    total = sum(len(plan) for _, plan in plans)
    done = 0
    measurements: list[Measurement] = []
    with _shared_servers(quick):
        for scenario, plan in plans:
            for repeat, case in plan:
                done += 1
                m = measure(scenario, case, repeat, pythons, quick)
                _progress(done, total, m)
                measurements.append(m)
    return measurements


@contextlib.contextmanager
def _shared_servers(quick: bool) -> Iterator[None]:
    """With ``--quick``, a folder where the server scenarios keep one server per tool and worker
    count for the whole run (see ``scenarios/_servers.py``); they are stopped at the end."""
    if not quick:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="runbase-bench-shared-") as tmp:
        os.environ[ENV_SHARED] = tmp
        try:
            yield
        finally:
            del os.environ[ENV_SHARED]
            _stop_groups(Path(tmp) / "servers.pgid")


def _stop_groups(listing: Path) -> None:
    """SIGTERM to each listed process group, SIGKILL to what is left of them 10 s later."""
    try:
        groups = [int(line) for line in listing.read_text().split()]
    except (OSError, ValueError):
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
        deadline = time.monotonic() + 10
        while sig == signal.SIGTERM and time.monotonic() < deadline:
            if not any(_group_exists(pgid) for pgid in groups):
                return
            time.sleep(0.1)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _repeats(scenario: Scenario, quick: bool) -> int:
    return scenario.quick_repeats if quick else scenario.repeats


def _progress(done: int, total: int, m: Measurement) -> None:
    what = "FAILED" if m.result is None else f"{m.result['value']:,.4g}"
    print(
        f"[{done}/{total}] {m.scenario:<16} {m.case:<60.60} {what:>12}  ({m.wall_seconds:.1f} s)",
        file=sys.stderr,
        flush=True,
    )
    if m.error:
        print(m.error, file=sys.stderr, flush=True)
