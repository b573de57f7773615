"""Many processes doing the same work at once, started together.

Each process runs a function of a scenario module in a tool's interpreter (``_worker.py``, as
``_servers.call`` does), does its untimed setup (imports, opening the store, creating its run),
then calls :func:`ready`, which blocks until every process is ready: only then does the parent
let them all go. Interpreter start-up and imports, which on 2 cores take longer than the work
itself for 32 processes, so stay out of the figure. Each process reports the monotonic clock
(system-wide on Linux) when it was let go and when its work was stored, and the figure is the
work of all of them over the span from the first start to the last end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from scenarios._spec import Result, Tool

_WORKER = Path(__file__).resolve().parent.parent / "_worker.py"
_READY = "BENCH_READY_FILE"
#: Seconds every process may take to get ready, and then to finish.
READY_TIMEOUT = 600.0
RUN_TIMEOUT = 1_200.0


def clock() -> float:
    """Seconds on the system-wide monotonic clock, comparable between processes."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def ready() -> float:
    """Called by a process once set up: say so, wait for the word to go, return the clock."""
    Path(os.environ[_READY]).touch()
    sys.stdin.buffer.read(1)  # blocks (no CPU) until the parent writes or closes
    return clock()


def run(tool: Tool, module: str, func: str, params: list[dict[str, Any]]) -> list[Result]:
    """``module.func(**p)`` for each ``p`` of ``params``, each in a process of ``tool``'s
    interpreter, let go together. Their error output is kept in ``stderr`` of each result."""
    from scenarios import _servers

    folder = Path.cwd() / f"parallel-{func}-{time.monotonic_ns()}"
    folder.mkdir()
    procs = []
    for n, p in enumerate(params):
        out, flag, err = folder / f"{n}.json", folder / f"{n}.ready", folder / f"{n}.err"
        env = {**os.environ, "BENCH_INTERPRETER": tool, _READY: str(flag)}
        command = [_servers.python(tool), str(_WORKER), module, func, json.dumps(p), str(out)]
        with err.open("wb") as errors:
            proc = subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stderr=errors)
        procs.append((proc, out, flag, err))
    try:
        _wait_ready(procs)
        for proc, *_ in procs:
            assert proc.stdin is not None
            proc.stdin.close()  # the word to go: ``read(1)`` returns
        deadline = time.monotonic() + RUN_TIMEOUT
        for proc, *_ in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc, *_ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    results = []
    for proc, out, _, err in procs:
        stderr = err.read_text(errors="replace")
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(stderr.strip().splitlines()[-15:])
            raise RuntimeError(f"a {tool} process of {func} failed:\n{tail}")
        results.append({**json.loads(out.read_text()), "stderr": stderr})
    return results


def _wait_ready(procs: list[tuple[subprocess.Popen[bytes], Path, Path, Path]]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while not all(flag.exists() for _, _, flag, _ in procs):
        for proc, _, flag, err in procs:
            if proc.poll() is not None and not flag.exists():
                tail = "\n".join(err.read_text(errors="replace").strip().splitlines()[-15:])
                raise RuntimeError(f"a process exited before it was ready:\n{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"processes not ready after {READY_TIMEOUT:.0f} s")
        time.sleep(0.05)


def span(results: list[Result]) -> float:
    """Seconds from the first process's start to the last one's end."""
    return max(float(r["end"]) for r in results) - min(float(r["start"]) for r in results)
