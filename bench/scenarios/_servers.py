"""Servers for the server scenarios: ``runbase server`` and ``mlflow server`` started fresh by the
measurement that uses them, on a free loopback port, and stopped when it ends.

With ``--quick`` (``$BENCH_SHARED`` set by the runner) each tool's server is started once per
worker count, on a store in that shared folder, and reused by every later measurement: starting
``mlflow server`` took most of a quick run's time. Each measurement then works in an experiment
of its own. The quick figures of a shared server include what earlier measurements left in it
(its memory above all); the published figures come from full runs, where every server is fresh.

Both get the same flags: a SQLite store (``sqlite:///…``) in the measurement's folder,
``--artifacts-destination`` beside it, ``--host 127.0.0.1``, ``--port`` and ``--workers``. Each
server runs in a session of its own, so stopping it stops its workers too; its process group is
listed in the file ``$BENCH_SERVERS``, from which the runner kills whatever a failed or timed-out
worker left behind.

A worker runs in one interpreter, yet a case may need the other: the ``mlflow`` client's cases
against runbase's server run in MLflow's interpreter (the same client code against both
servers), but runbase's store is built with runbase, and process memory is read with ``psutil``
from runbase's venv. :func:`call` runs a function of a scenario module in either interpreter.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios import _stores
from scenarios._spec import Result, Tool

#: Worker processes of both servers, as in PRODUCT.md's baseline of ``mlflow server``.
WORKERS = 4
#: Seconds a server may take to answer ``/health``.
STARTUP_TIMEOUT = 120.0

_WORKER = Path(__file__).resolve().parent.parent / "_worker.py"
_EXECUTABLE = {"runbase": "runbase", "mlflow": "mlflow"}


# -- where things are ------------------------------------------------------------------------
def python(tool: Tool) -> str:
    """The interpreter of ``tool``'s venv, as the runner passed it."""
    return os.environ[f"BENCH_PYTHON_{tool.upper()}"]


def _shared() -> Path | None:
    folder = os.environ.get("BENCH_SHARED")
    return Path(folder) if folder else None


def _home() -> Path:
    """Where the servers' stores live: the measurement's folder, or the shared one."""
    return _shared() or Path.cwd()


def experiment() -> str:
    """The experiment a measurement works in: its own, even on a shared server (the folder of a
    measurement, its working directory, has a unique name)."""
    return "bench" if _shared() is None else f"bench-{Path.cwd().parent.name}"


def store_path(tool: Tool) -> Path:
    return _home() / f"{tool}.db"


def store_uri(tool: Tool) -> str:
    if tool == "mlflow":
        return _stores.mlflow_db(store_path(tool))
    return f"sqlite:///{store_path(tool)}"


def artifacts(tool: Tool) -> Path:
    return _home() / f"{tool}-artifacts"


def spool_here() -> None:
    """Keep runbase's client spool (used only while a server is down) in the measurement's
    folder rather than the user's cache."""
    os.environ["RUNBASE_SPOOL_DIR"] = str(Path.cwd() / "spool")


# -- running a function in either interpreter --------------------------------------------------
def call(tool: Tool, module: str, func: str, **params: Any) -> Result:
    """``module.func(**params)`` in ``tool``'s interpreter: here if this is it, else in a new
    process of that interpreter, in the same folder."""
    if os.environ.get("BENCH_INTERPRETER") == tool:
        import importlib

        result: Result = getattr(importlib.import_module(module), func)(**params)
        return result
    env = {**os.environ, "BENCH_INTERPRETER": tool}
    with tempfile.TemporaryDirectory(prefix="runbase-bench-call-") as tmp:
        out = Path(tmp) / "result.json"
        command = [python(tool), str(_WORKER), module, func, json.dumps(params), str(out)]
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{module}.{func} failed in {tool}'s interpreter:\n{proc.stderr}")
        answer: Result = json.loads(out.read_text())
        return answer


# -- stores, prepared before a server starts -----------------------------------------------------
def prepare(tool: Tool) -> str:
    """Create ``tool``'s store (schema, migrations) and the experiment, in-process and before the
    server starts, so its start-up is timed on a ready store; return the experiment id."""
    return str(call(tool, __name__, f"_prepare_{tool}")["experiment_id"])


def _prepare_runbase() -> Result:
    import runbase

    client = runbase.Client(store_uri("runbase"))
    experiment_id = client.create_experiment(experiment())
    client.close()
    return {"experiment_id": experiment_id}


def _prepare_mlflow() -> Result:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store_uri("mlflow"))
    return {"experiment_id": client.create_experiment(experiment())}


# -- servers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    tool: Tool
    url: str
    #: The server's first process: the leader of its process group.
    pid: int
    #: Seconds from starting the command until ``/health`` answered ``OK``.
    startup_s: float
    #: Seconds from then until the server was quiet (see ``wait_quiet``).
    quiet_s: float


@contextmanager
def serve(tool: Tool, workers: int = WORKERS) -> Iterator[Server]:
    """``runbase server`` or ``mlflow server`` on the store ``store_uri(tool)``, until the block
    ends; with a shared folder, the one started by an earlier measurement if there is one, left
    running for the next."""
    shared = _shared()
    if shared is None:
        with _start(tool, workers) as server:
            yield server
        return
    record = shared / f"{tool}-{workers}.json"
    if record.exists():
        server = Server(**json.loads(record.read_text()))
        if _wait_healthy(server.url, None):
            wait_quiet(server.pid)
            yield server
            return
    with _start(tool, workers, keep=True) as server:
        record.write_text(json.dumps(server.__dict__))
        yield server


@contextmanager
def _start(tool: Tool, workers: int, keep: bool = False) -> Iterator[Server]:
    """Start a server, wait until it answers and is quiet; stop it when the block ends unless
    ``keep`` (the runner stops it at the end of the run)."""
    artifacts(tool).mkdir(exist_ok=True)
    log = _home() / f"{tool}-server.log"
    for attempt in range(3):
        port = _free_port()
        command = [
            str(Path(python(tool)).parent / _EXECUTABLE[tool]),
            "server",
            "--backend-store-uri",
            store_uri(tool),
            "--artifacts-destination",
            str(artifacts(tool)),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        with log.open("ab") as out:  # the server keeps its own copy of the descriptor
            start = time.perf_counter()
            proc = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        _register(proc.pid)
        try:
            url = f"http://127.0.0.1:{port}"
            if _wait_healthy(url, proc):
                healthy = time.perf_counter() - start
                quiet = wait_quiet(proc.pid)
                yield Server(tool, url, proc.pid, healthy, quiet)
                return
        finally:
            if not keep:
                _stop(proc)
        # It exited before answering: most likely another process took the port meanwhile.
        if attempt == 2:
            tail = log.read_text(errors="replace").strip().splitlines()[-20:]
            raise RuntimeError(f"{tool} server did not start:\n" + "\n".join(tail))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _register(pgid: int) -> None:
    shared = _shared()
    listing = str(shared / "servers.pgid") if shared else os.environ.get("BENCH_SERVERS")
    if listing:
        with open(listing, "a") as out:
            out.write(f"{pgid}\n")


def _wait_healthy(url: str, proc: subprocess.Popen[bytes] | None) -> bool:
    """True once ``/health`` answers; False if the process exited first (or, with no process
    given, if the server does not answer at once)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            if proc is None:
                return False
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise RuntimeError(f"no answer from {url}/health after {STARTUP_TIMEOUT:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it is still there after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its workers may still be winding down.
        if not _group_alive(proc.pid, wait):
            break
    proc.wait()


def _group_alive(pgid: int, wait: float) -> bool:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    return True


def wait_quiet(pgid: int, window: float = 0.5, timeout: float = 60.0) -> float:
    """Wait until the server's processes are idle; return the seconds waited.

    ``/health`` answers as soon as one worker is up, while others (and MLflow's job runner
    and its seven consumer processes) may still be importing, taking the CPU from whatever is
    timed next. Quiet means: the same processes in the group, and less than 2% of a core of
    CPU time between two looks ``window`` seconds apart (read from ``/proc``)."""
    start = time.monotonic()
    before = _group_cpu(pgid)
    while time.monotonic() - start < timeout:
        time.sleep(window)
        after = _group_cpu(pgid)
        if after[0] == before[0] and after[1] - before[1] < 0.02 * window:
            break
        before = after
    return time.monotonic() - start


def _group_cpu(pgid: int) -> tuple[frozenset[int], float]:
    """The processes of a process group and the CPU seconds they have used."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = []
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # After the command name, which is in parentheses and may hold spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:  # pgrp; then utime and stime are fields 11 and 12
            pids.append(int(entry.name))
            ticks += int(fields[11]) + int(fields[12])
    return frozenset(pids), ticks / tick


def timings(server: Server) -> Result:
    """A server's start-up, kept with every measurement."""
    return {"startup_s": server.startup_s, "quiet_s": server.quiet_s}


# -- memory --------------------------------------------------------------------------------------
def memory(server: Server) -> Result:
    """Memory of the server's whole process tree, once it is quiet."""
    quiet = wait_quiet(server.pid)
    return {**call("runbase", __name__, "_tree_memory", pid=server.pid), "quiet_s": quiet}


def _tree_memory(pid: int) -> Result:
    """Run in runbase's interpreter, which has ``psutil``: sums over every process of the tree
    RSS, as ``ps`` shows it (pages shared by several processes counted in each), and PSS
    (shared pages split between the processes that share them: what the tree really holds)."""
    import psutil  # type: ignore[import-untyped]

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    rss = pss = 0
    for proc in procs:
        info = proc.memory_full_info()
        rss += info.rss
        pss += info.pss
    return {"rss_mib": rss / 2**20, "pss_mib": pss / 2**20, "processes": len(procs)}


def check(condition: bool, message: str) -> None:
    """A figure only counts if the work really was done: checked outside the timed part."""
    if not condition:
        raise RuntimeError(message)
