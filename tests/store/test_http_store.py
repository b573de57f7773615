"""What only the HTTP store has: opening by URL, retries, lost answers, compression, and errors
that keep their class and message. (The contract itself runs through it in test_store.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from liveserver import free_port, open_server_store, serve_in_thread, store_app
from runbase._transport import Transport
from runbase.entities import Param
from runbase.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    ServerUnavailableError,
)
from runbase.store import MetricColumns, Store, open_store, resolve_uri, upgrade_schema
from runbase.store.http import HttpStore


class Faults:
    """Wraps the server app: records requests, and can fail the next ones with a 503 (before
    the app sees them) or lose the answer of the next ones (after the app did the work)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.fail = 0
        self.lose_answer = 0
        self.plain_status: int | None = None
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append((scope["method"], scope["path"], headers))
        if self.plain_status is not None:
            await _plain(send, self.plain_status, b"<html>proxy says no</html>")
        elif self.fail:
            self.fail -= 1
            await _plain(send, 503, b"Service Unavailable")
        elif self.lose_answer:
            self.lose_answer -= 1

            async def drop(_message: Message) -> None:
                return None

            await self.app(scope, receive, drop)
            await _plain(send, 502, b"Bad Gateway")
        else:
            await self.app(scope, receive, send)


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Faults, HttpStore, Store]]:
    """An HTTP store on a server (SQLite) behind ``Faults``, and the server's own store."""
    backend = open_server_store(f"sqlite:///{tmp_path / 'runbase.db'}")
    faults = Faults(store_app(backend, tmp_path / "artifacts"))
    with serve_in_thread(faults) as url:
        remote = HttpStore(url, backoff=0.01)
        yield faults, remote, backend
        remote.close()
    backend.close()


def test_open_store_by_url() -> None:
    store = open_store("http://127.0.0.1:1/")
    assert isinstance(store, HttpStore) and store.url == "http://127.0.0.1:1"
    store.close()
    assert resolve_uri("HTTPS://example.com/prefix/") == "HTTPS://example.com/prefix"
    with pytest.raises(InvalidInputError, match="on the server"):
        upgrade_schema("http://127.0.0.1:1")
    with pytest.raises(InvalidInputError, match="artifacts-destination"):
        open_store("http://127.0.0.1:1", artifact_root="/tmp/x")


def test_unreachable_server_fails_fast_and_clearly() -> None:
    store = HttpStore(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.01)
    begin = time.monotonic()
    with pytest.raises(ServerUnavailableError, match="Cannot reach the runbase server at"):
        store.get_run("0" * 32)
    assert time.monotonic() - begin < 2
    store.close()


def test_server_errors_are_retried_for_reads(served: tuple[Faults, HttpStore, Store]) -> None:
    faults, remote, _ = served
    faults.fail = 2
    assert remote.get_experiment("0").name == "Default"
    assert len(faults.requests) == 3
    faults.fail = 10
    with pytest.raises(ServerUnavailableError, match="HTTP 503"):
        remote.get_experiment("0")
    assert len(faults.requests) == 3 + 4  # the first try and three retries


def test_creating_is_not_retried_after_a_server_error(
    served: tuple[Faults, HttpStore, Store],
) -> None:
    faults, remote, backend = served
    faults.lose_answer = 1
    with pytest.raises(ServerUnavailableError):
        remote.create_run("0", run_name="once")
    assert len(faults.requests) == 1
    page = backend.search_runs(["0"])
    assert [r.info.run_name for r in page.runs] == ["once"]  # created once, not twice


def test_a_lost_answer_is_retried_and_stored_once(
    served: tuple[Faults, HttpStore, Store],
) -> None:
    faults, remote, backend = served
    run_id = remote.create_run("0", run_name="r").info.run_id
    steps = np.arange(1000)
    faults.lose_answer = 2
    remote.log_columns(run_id, {"m": MetricColumns(steps, steps, steps * 1.0)}, [Param("p", "1")])
    assert [r[1] for r in faults.requests[-3:]] == ["/api/v1/ingest"] * 3
    assert backend.get_run(run_id).data.summaries["m"].count == 1000


def test_large_batches_are_compressed(served: tuple[Faults, HttpStore, Store]) -> None:
    faults, loopback, backend = served
    run_id = loopback.create_run("0", run_name="r").info.run_id
    steps = np.arange(100_000)
    values = np.sin(steps / 100.0)
    values[::1000] = np.nan
    loopback.log_columns(run_id, {"loopback": MetricColumns(steps, steps + 7, values)})
    _, path, headers = faults.requests[-1]  # deflating costs more than loopback saves
    assert path == "/api/v1/ingest" and "content-encoding" not in headers
    remote = HttpStore(loopback.url, transport=Transport(loopback.url, gzip_bodies=True))
    remote.log_columns(run_id, {"big": MetricColumns(steps, steps + 7, values)})
    _, path, headers = faults.requests[-1]
    assert path == "/api/v1/ingest" and headers["content-encoding"] == "gzip"
    cols = remote.get_metric_columns(run_id, "big")
    np.testing.assert_array_equal(cols.values, values)  # NaN included
    np.testing.assert_array_equal(cols.timestamps, steps + 7)
    assert backend.get_run(run_id).data.summaries["big"].count == 100_000
    remote.log_columns(run_id, params=[Param("small", "1")])
    assert "content-encoding" not in faults.requests[-1][2]
    remote.close()


def test_errors_keep_their_class_and_message(served: tuple[Faults, HttpStore, Store]) -> None:
    _, remote, backend = served
    run_id = backend.create_run("0", run_name="r").info.run_id
    backend.log_columns(run_id, params=[Param("lr", "0.1")])
    backend.create_experiment("taken")
    calls: list[tuple[type[Exception], Any]] = [
        (NotFoundError, lambda s: s.get_run("f" * 32)),
        (NotFoundError, lambda s: s.get_experiment("424242")),
        (AlreadyExistsError, lambda s: s.create_experiment("taken")),
        (InvalidInputError, lambda s: s.log_columns(run_id, params=[Param("lr", "0.2")])),
        (InvalidInputError, lambda s: s.log_columns(run_id, params=[Param("bad$", "1")])),
        (InvalidInputError, lambda s: s.search_runs(["0"], "params.x = 1 OR params.y = 2")),
        (NotFoundError, lambda s: s.delete_tag(run_id, "nope")),
    ]
    for kind, call in calls:
        with pytest.raises(kind) as direct:
            call(backend)
        with pytest.raises(kind) as remote_error:
            call(remote)
        # The contract's classes cross the wire (subclasses such as a filter syntax error
        # arrive as their contract class), with the same message.
        assert type(remote_error.value) is kind
        assert str(remote_error.value) == str(direct.value)


def test_answers_that_are_not_json(served: tuple[Faults, HttpStore, Store]) -> None:
    faults, remote, _ = served
    faults.plain_status = 502
    with pytest.raises(ServerUnavailableError, match=r"proxy says no.*HTTP 502"):
        remote.get_experiment("0")
    faults.plain_status = 404
    with pytest.raises(NotFoundError, match="HTTP 404"):
        remote.get_experiment("0")
