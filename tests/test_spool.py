"""The offline spool: writes made while the server is down reach it exactly once when it is
back, from the client that made them, from the next client, or through ``runbase sync``; and a
server killed with SIGKILL while four processes log loses and doubles nothing."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from liveserver import free_port, make_app, serve_in_thread, start_process
from runbase._spool import EndRun, Spool, replay_orphans, server_directory
from runbase.cli import main
from runbase.client import Client
from runbase.entities import Param, RunTag
from runbase.errors import InvalidInputError, ServerUnavailableError
from runbase.store import MetricColumns, RunWrite, Store, open_store
from runbase.store import http as http_store


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_store, "DEFAULT_BACKOFF", 0.01)


class Server:
    """A server on a fixed port over one SQLite database, which a test stops and restarts."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_uri = f"sqlite:///{tmp_path / 'server.db'}"
        self.artifacts = tmp_path / "artifacts"
        self._running: AbstractContextManager[str] | None = None

    def start(self) -> None:
        self._running = serve_in_thread(make_app(self.db_uri, self.artifacts), self.port)
        self._running.__enter__()

    def stop(self) -> None:
        assert self._running is not None
        self._running.__exit__(None, None, None)
        self._running = None

    def store(self) -> Store:
        return open_store(self.db_uri)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    running.start()
    yield running
    if running._running is not None:
        running.stop()


def _cols(start: int, n: int) -> MetricColumns:
    steps = np.arange(start, start + n)
    return MetricColumns(steps, steps + 10_000, steps * 0.5)


def _spools(spool_dir: Path) -> list[Path]:
    return sorted(spool_dir.rglob("*.spool"))


# -- the spool file ----------------------------------------------------------------------------
def test_spool_replays_in_order_and_deletes_itself(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    run_id = store.create_run("0", run_name="r").info.run_id
    spool = Spool(tmp_path / "spool", "http://server")
    assert spool.path is None and spool.pending == 0  # nothing on disk until needed
    steps = np.arange(4)
    values = MetricColumns(steps, steps, np.array([math.nan, math.inf, -math.inf, 1.0]))
    spool.append([RunWrite(run_id, {"m": values}, [Param("p", "1")], [RunTag("t", "a")], "b1")])
    spool.append([RunWrite(run_id, {}, tags=[RunTag("t", "b")], batch_id="b2")])
    spool.append([EndRun(run_id, "FINISHED", 99)])
    assert spool.pending == 3 and spool.path is not None and spool.path.exists()
    assert (tmp_path / "spool" / "server.txt").read_text() == "http://server\n"
    assert Spool.adopt(spool.path, "http://server") is None  # held by its owner
    result = spool.replay(store)
    assert (result.sent, result.points, result.remaining, result.error) == (3, 4, 0, None)
    run = store.get_run(run_id)
    assert run.data.tags["t"] == "b" and run.data.params == {"p": "1"}  # order kept
    assert (run.info.status, run.info.end_time) == ("FINISHED", 99)
    got = store.get_metric_columns(run_id, "m").values
    assert math.isnan(got[0]) and got[1] == math.inf and got[2] == -math.inf
    path = spool.path
    spool.close()
    assert not path.exists()
    store.close()


class _LosesAnswers:
    """A store whose ingest stores the writes, then fails as if the answer was lost."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def ingest(self, writes: list[RunWrite]) -> None:
        self.store.ingest(writes)
        raise ServerUnavailableError("connection reset")


def test_a_replay_whose_answer_is_lost_is_not_stored_twice(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    run_id = store.create_run("0", run_name="r").info.run_id
    spool = Spool(tmp_path / "spool", "http://server")
    spool.append([RunWrite(run_id, {"m": _cols(0, 100)}, batch_id="lost-answer")])
    failed = spool.replay(_LosesAnswers(store))  # type: ignore[arg-type]
    assert failed.remaining == 1 and isinstance(failed.error, ServerUnavailableError)
    assert spool.replay(store).sent == 1
    assert store.get_run(run_id).data.summaries["m"].count == 100
    spool.close()
    store.close()


def test_rejected_entries_are_kept_for_inspection(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_columns(run_id, params=[Param("lr", "0.1")])
    spool = Spool(tmp_path / "spool", "http://server")
    spool.append([RunWrite(run_id, {}, [Param("lr", "0.2")], batch_id="conflict")])
    spool.append([RunWrite(run_id, {"m": _cols(0, 3)}, batch_id="fine")])
    result = spool.replay(store)
    assert result.sent == 1 and result.remaining == 0
    [(rejected_run, error)] = result.rejected
    assert rejected_run == run_id and isinstance(error, InvalidInputError)
    assert spool.rejected_count() == 1
    path = spool.path
    spool.close()
    assert path is not None and path.exists()  # kept: it holds a rejected write
    store.close()


def test_orphaned_spools_are_adopted(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    run_id = store.create_run("0", run_name="r").info.run_id
    directory = server_directory(tmp_path / "spool", "http://server")
    left = Spool(directory, "http://server")
    left.append([RunWrite(run_id, {"m": _cols(0, 5)}, batch_id="orphan")])
    held = Spool(directory, "http://server")
    held.append([RunWrite(run_id, {"m": _cols(5, 5)}, batch_id="held")])
    left.close()  # its process exited with the server down
    [(path, result)] = replay_orphans(store, directory, "http://server")
    assert path == left.path and result.sent == 1 and not path.exists()
    assert store.get_run(run_id).data.summaries["m"].count == 5  # the held one is untouched
    held.close()
    store.close()


# -- a client and a server that goes away --------------------------------------------------------
def test_server_down_then_back_every_point_exactly_once(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client(server.url, flush_interval=0.05, spool_dir=tmp_path / "spool")
    run_id = client.create_run("0", run_name="outage").info.run_id
    for step in range(1000):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    client.flush()
    server.stop()
    with caplog.at_level(logging.WARNING, logger="runbase"):
        for step in range(1000, 3000):
            client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
        client.log_params(run_id, {"model": {"depth": 4}})
        client.set_tag(run_id, "phase", "offline")
        client.log_batch(run_id, params=[Param("batch", "32")])
        client.flush()  # the server is down: the points are spooled, nothing is raised
    assert "kept in the spool" in caplog.text
    assert len(_spools(tmp_path / "spool")) == 1
    server.start()
    client.set_tag(run_id, "phase", "online")  # after the spooled tag, so it must win
    client.flush()
    run = client.get_run(run_id)
    assert run.data.params == {"model.depth": "4", "batch": "32"}
    assert run.data.tags["phase"] == "online"
    summary = run.data.summaries["loss"]
    assert (summary.count, summary.last_step) == (3000, 2999)  # no point lost, none doubled
    assert client.get_metric_arrays(run_id, "loss").steps.tolist() == list(range(3000))
    client.close()
    assert _spools(tmp_path / "spool") == []


def test_params_fail_fast_while_the_server_is_up(server: Server, tmp_path: Path) -> None:
    client = Client(server.url, spool_dir=tmp_path / "spool")
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", 0.1)
    with pytest.raises(InvalidInputError, match="Changing param values"):
        client.log_param(run_id, "lr", 0.2)
    with pytest.raises(InvalidInputError, match="may only contain"):
        client.log_param(run_id, "bad$key", 1)
    client.close()


def test_a_param_conflict_made_offline_is_raised_after_the_replay(
    server: Server, tmp_path: Path
) -> None:
    client = Client(server.url, flush_interval=0.05, spool_dir=tmp_path / "spool")
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", 0.1)
    server.stop()
    client.log_param(run_id, "lr", 0.2)  # cannot be checked now: spooled
    client.log_metric(run_id, "m", 1.0, step=0)
    server.start()
    with pytest.raises(InvalidInputError, match=r"1 spooled writes were rejected.*Changing param"):
        client.flush()
    assert client.get_run(run_id).data.metrics == {"m": 1.0}
    client.close()


def test_start_run_needs_the_server(tmp_path: Path) -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", spool_dir=tmp_path / "spool")
    with pytest.raises(ServerUnavailableError, match="Cannot start a run"):
        client.create_run("0")
    client.close()
    assert _spools(tmp_path / "spool") == []


def test_a_run_ended_offline_is_ended_when_the_server_is_back(
    server: Server, tmp_path: Path
) -> None:
    client = Client(server.url, flush_interval=0.05, spool_dir=tmp_path / "spool")
    run_id = client.create_run("0").info.run_id
    server.stop()
    client.log_metric(run_id, "m", 2.0, step=1)
    assert client.set_terminated(run_id, "FINISHED", end_time=1234) is None
    server.start()
    client.flush()
    info = client.get_run(run_id).info
    assert (info.status, info.end_time) == ("FINISHED", 1234)
    client.close()


def test_an_exited_client_is_sent_by_the_next_one_or_by_sync(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool_dir = tmp_path / "spool"
    first = Client(server.url, flush_interval=0.05, spool_dir=spool_dir)
    run_a = first.create_run("0").info.run_id
    run_b = first.create_run("0").info.run_id
    server.stop()
    first.log_metric(run_a, "m", 1.0, step=0)
    with caplog.at_level(logging.WARNING, logger="runbase"):
        first.close()
    assert "runbase sync" in caplog.text
    second = Client(server.url, flush_interval=0.05, spool_dir=spool_dir)
    second.log_metric(run_b, "m", 1.0, step=0)
    second.close()  # still down: two spools now
    assert len(_spools(spool_dir)) == 2
    server.start()
    runner = CliRunner()
    result = runner.invoke(
        main, ["sync", "--tracking-uri", server.url + "/", "--spool-dir", str(spool_dir)]
    )
    assert result.exit_code == 0, result.output
    assert "Sent 2 spooled writes (2 metric points)" in result.output
    assert _spools(spool_dir) == []
    store = server.store()
    assert store.get_run(run_a).data.summaries["m"].count == 1
    assert store.get_run(run_b).data.summaries["m"].count == 1
    store.close()
    assert "Sent 0" in runner.invoke(main, ["sync", "--tracking-uri", server.url]).output
    bad = runner.invoke(main, ["sync", "--tracking-uri", "runbase.db"])
    assert bad.exit_code != 0 and "not a runbase server" in bad.output


def test_the_next_client_adopts_what_an_exited_one_left(server: Server, tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    first = Client(server.url, flush_interval=0.05, spool_dir=spool_dir)
    run_id = first.create_run("0").info.run_id
    server.stop()
    first.log_metric(run_id, "m", 1.0, step=0)
    first.close()
    server.start()
    second = Client(server.url, flush_interval=0.05, spool_dir=spool_dir)
    second.log_metric(run_id, "m", 2.0, step=1)
    second.flush()
    assert second.get_run(run_id).data.summaries["m"].count == 2
    second.close()
    assert _spools(spool_dir) == []


# -- kill -9 the server while 4 processes log ------------------------------------------------------
CLIENT = textwrap.dedent(
    """
    import sys, time
    from runbase.client import Client

    url, spool_dir, run_id, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = Client(url, flush_interval=0.1, spool_dir=spool_dir)
    for step in range(n):
        client.log_metric(run_id, "x", float(step), step=step)
        if step % 250 == 249:
            time.sleep(0.025)
    client.log_param(run_id, "done", "yes")
    client.close()
    """
)


def test_kill_9_the_server_while_4_processes_log(tmp_path: Path, db_uri: str) -> None:
    port, clients, points = free_port(), 4, 40_000
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = start_process(db_uri, tmp_path / "artifacts", port, log)
    store = open_store(url)
    run_ids = [store.create_run("0", run_name=f"client-{i}").info.run_id for i in range(clients)]
    spool_dir = tmp_path / "spool"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, url, str(spool_dir), run_id, str(points)],
            stderr=subprocess.PIPE,
        )
        for run_id in run_ids
    ]
    try:
        deadline = time.monotonic() + 30
        while not all(store.get_run(r).data.summaries for r in run_ids):  # everyone is logging
            assert time.monotonic() < deadline, "the clients did not start logging"
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        down = time.monotonic()
        while len(_spools(spool_dir)) < clients:  # the clients log on, into their spools
            assert time.monotonic() - down < 10, "the clients did not spool"
            time.sleep(0.02)
        time.sleep(max(0.0, 1.0 - (time.monotonic() - down)))
        assert all(p.poll() is None for p in procs)  # the outage is mid-way through logging
        server = start_process(db_uri, tmp_path / "artifacts", port, log)
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
        assert _spools(spool_dir) == []  # every client sent its spool before exiting
        for run_id in run_ids:
            run = store.get_run(run_id)
            assert run.data.params == {"done": "yes"}
            assert run.data.summaries["x"].count == points  # none lost, none stored twice
            steps = store.get_metric_columns(run_id, "x").steps
            assert steps.tolist() == list(range(points))
    finally:
        store.close()
        for proc in procs:
            proc.kill()
        server.kill()
        server.wait()
