"""``runbase sweep run`` / ``resume``: create (or reopen) a sweep, start its agents, show its
progress, close it.

Agents are ``runbase agent`` processes (their output goes to ``agent-<n>.log`` in a folder the
coordinator names), so a killed coordinator leaves a sweep that ``runbase sweep resume`` picks up:
trials of agents that died are queued again once their heartbeat times out. A sweep whose code
is a Python object (a ``function`` given as a callable) runs its agents as threads of this
process instead.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from runbase.client import Client
from runbase.entities import RunStatus
from runbase.store import resolve_uri
from runbase.sweeps import _journal
from runbase.sweeps._agent import Agent, fluent_client
from runbase.sweeps._progress import Progress, clock
from runbase.sweeps._results import STATE_TAG, SweepInfo, SweepReader
from runbase.sweeps._sweep import create_sweep, finalize
from runbase.sweeps.spec import SweepSpec, load_spec, parse_spec

__all__ = ["resume", "run", "spawn_agents"]

_REFRESH = 1.0
_TICK = 0.05


def run(
    spec: SweepSpec | Mapping[str, Any] | str | Path,
    *,
    tracking_uri: str | None = None,
    parallel: int | None = None,
    progress: bool = True,
    out: TextIO | None = None,
    log_dir: str | Path | None = None,
) -> SweepInfo:
    """Create a sweep from a spec (a YAML path, a mapping or a :class:`SweepSpec`) and run it
    to the end with ``parallel`` agents (default: the spec's ``parallel``)."""
    if isinstance(spec, str | Path):
        spec = load_spec(spec)
    spec = parse_spec(spec)
    out = out if out is not None else sys.stdout
    client = _client(spec, tracking_uri)
    sweep_id = create_sweep(spec, client)
    n = parallel or spec.parallel
    print(
        f"Sweep {sweep_id} ({spec.name}): {spec.method}, "
        f"{_budget_text(spec)}, {spec.metric.goal} {spec.metric.name}, "
        f"pruner {spec.pruner.type}, {n} agent{'s' if n != 1 else ''}",
        file=out,
    )
    if not spec.in_process:
        uri = resolve_uri(client.tracking_uri)
        print(
            f"More agents, from anywhere that reaches the store: runbase agent {sweep_id} "
            f"--tracking-uri {uri}",
            file=out,
        )
    return _drive(sweep_id, client, spec, n, progress, out, log_dir)


def resume(
    sweep_id: str,
    *,
    tracking_uri: str | None = None,
    parallel: int | None = None,
    progress: bool = True,
    out: TextIO | None = None,
    log_dir: str | Path | None = None,
    function: Callable[..., Any] | None = None,
) -> SweepInfo:
    """Carry on with an interrupted sweep: the trials its dead agents were running are queued
    again (once their heartbeat has timed out), and new agents take up the rest."""
    out = out if out is not None else sys.stdout
    client = fluent_client(tracking_uri) if function is not None else Client(tracking_uri)
    record = _journal.load_spec_record(client.store, sweep_id)
    spec = _journal.spec_of(record)
    if function is not None:
        spec = parse_spec({**spec.to_dict(), "function": function})
    reader = SweepReader(client.store, sweep_id)
    if reader.finished():
        print(f"Sweep {sweep_id} ({spec.name}) is already finished.", file=out)
        finalize(client, reader)
        return reader.info()
    client.store.update_run(sweep_id, status=RunStatus.RUNNING)
    client.set_tags(sweep_id, {STATE_TAG: "RUNNING"})
    n = parallel or spec.parallel
    counts = reader.counts()
    print(
        f"Resuming sweep {sweep_id} ({spec.name}): {counts['COMPLETE']} complete, "
        f"{counts['PRUNED']} pruned, {counts['RUNNING']} were running; {n} agent"
        f"{'s' if n != 1 else ''}",
        file=out,
    )
    return _drive(sweep_id, client, spec, n, progress, out, log_dir)


def _client(spec: SweepSpec, tracking_uri: str | None) -> Client:
    # In-process agents log through the module-level verbs: share their client.
    return fluent_client(tracking_uri) if spec.in_process else Client(tracking_uri)


def _budget_text(spec: SweepSpec) -> str:
    text = f"{spec.budget} trials" if spec.budget < 2**62 else "trials"
    if spec.timeout is not None:
        text += f" within {clock(spec.timeout)}"
    return text


def spawn_agents(
    sweep_id: str, tracking_uri: str, n: int, log_dir: Path, first_worker: int = 0
) -> list[subprocess.Popen[bytes]]:
    """Start ``n`` ``runbase agent`` processes on this machine, logging to ``log_dir``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for worker in range(first_worker, first_worker + n):
        command = [sys.executable, "-m", "runbase", "agent", sweep_id]
        command += ["--tracking-uri", tracking_uri, "--worker", str(worker)]
        with (log_dir / f"agent-{worker}.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
            )
    return procs


def _drive(
    sweep_id: str,
    client: Client,
    spec: SweepSpec,
    n: int,
    show: bool,
    out: TextIO,
    log_dir: str | Path | None,
) -> SweepInfo:
    reader = SweepReader(client.store, sweep_id)
    progress = Progress(out, enabled=show)
    logs = Path(log_dir) if log_dir else Path(tempfile.gettempdir(), f"runbase-sweep-{sweep_id}")
    failures: list[str] = []
    if spec.in_process:
        alive = _start_threads(sweep_id, client, spec, n, logs, failures)
    else:
        procs = spawn_agents(sweep_id, resolve_uri(client.tracking_uri), n, logs)
        alive = lambda: any(p.poll() is None for p in procs)  # noqa: E731
    try:
        while alive():
            progress.update(reader.info(), reader.trials())
            for _ in range(round(_REFRESH / _TICK)):
                if not alive():
                    break
                time.sleep(_TICK)
    except KeyboardInterrupt:
        progress.close()
        print(
            f"\nInterrupted: stopping the agents. Carry on with: runbase sweep resume {sweep_id}",
            file=out,
        )
        if not spec.in_process:
            _stop(procs)
        finalize(client, reader, status=RunStatus.KILLED)
        raise
    info = reader.info()
    progress.update(info, reader.trials())
    progress.close()
    if not spec.in_process:
        failures += [
            f"agent {i} exited with status {p.returncode} (see {logs / f'agent-{i}.log'})"
            for i, p in enumerate(procs)
            if p.returncode not in (0, None)
        ]
    timed_out = spec.timeout is not None and info.counts["RUNNING"] == 0
    if not finalize(client, reader) and timed_out:
        finalize(client, reader, status=RunStatus.FINISHED)
    for failure in failures:
        print(failure, file=out)
    _summary(reader, out, logs)
    return reader.info()


def _start_threads(
    sweep_id: str,
    client: Client,
    spec: SweepSpec,
    n: int,
    logs: Path,
    failures: list[str],
) -> Callable[[], bool]:
    assert callable(spec.function)
    function = spec.function
    logs.mkdir(parents=True, exist_ok=True)

    def work(worker: int) -> None:
        with (logs / f"agent-{worker}.log").open("a") as log:
            try:
                Agent(
                    sweep_id,
                    tracking_uri=client.tracking_uri,
                    function=function,
                    worker=worker,
                    out=log,
                ).run()
            except Exception as exc:
                failures.append(f"agent {worker} failed: {exc}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    return lambda: any(t.is_alive() for t in threads)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(deadline - time.monotonic(), 0.1))
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _summary(reader: SweepReader, out: TextIO, logs: Path) -> None:
    info = reader.info()
    c = info.counts
    print(
        f"Sweep {info.sweep_id} ({info.name}): {c['COMPLETE']} complete, {c['PRUNED']} pruned, "
        f"{c['FAIL']} failed" + ("" if info.finished else " (not finished)"),
        file=out,
    )
    if info.best is not None:
        params = ", ".join(f"{k}={v}" for k, v in info.best.params.items())
        print(
            f"Best: trial {info.best.number}, {info.metric} = {info.best.value:.6g}, "
            f"run {info.best.run_id}\n  {params}",
            file=out,
        )
        importance = reader.importance()
        if importance:
            shown = ", ".join(f"{k} {v:.2f}" for k, v in list(importance.items())[:6])
            print(f"Parameter importance: {shown}", file=out)
    if c["FAIL"]:
        print(f"Agent logs: {logs}", file=out)
