"""A real runbase server on 127.0.0.1 for tests: uvicorn in a thread, or in a child process.

``serve_in_thread`` starts in about 20 ms, so a test may have a server of its own; the socket is
bound before uvicorn starts, so the port is known and never raced for.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from runbase.artifacts import LocalArtifactRepository
from runbase.server._context import ServerContext
from runbase.server.app import PROXY_ARTIFACT_ROOT, build_app, create_app
from runbase.store import Store, open_store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def store_app(store: Store, artifacts: Path) -> ASGIApp:
    """The whole server over an open store (which stays the caller's to close)."""
    return build_app(ServerContext(store, LocalArtifactRepository(artifacts)))


def open_server_store(db_uri: str) -> Store:
    """The store as the server opens it: artifacts proxied (``mlflow-artifacts:/``)."""
    return open_store(db_uri, artifact_root=PROXY_ARTIFACT_ROOT)


def make_app(db_uri: str, artifacts: Path) -> ASGIApp:
    """The whole server over a database, as ``runbase server`` runs it."""
    return create_app(db_uri, str(artifacts))


class Swappable:
    """An ASGI app that forwards to ``app``: one server for a session, a fresh app per test."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no app is being served"
        await self.app(scope, receive, send)


@contextmanager
def serve_in_thread(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """Serve ``app`` until the block ends; yield its base URL."""
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets that say they are TCP, and
    # without it every answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.002)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


RUNBASE = str(Path(sys.executable).parent / "runbase")


def start_process(
    db_uri: str, artifacts: Path, port: int, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``runbase server`` in a child process (so it can be killed with SIGKILL), ready when this
    returns."""
    command = [RUNBASE, "server", "--backend-store-uri", db_uri]
    command += ["--artifacts-destination", str(artifacts), "--port", str(port)]
    if log is None:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    else:
        with log.open("ab") as out:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).text == "OK":
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError("the runbase server process did not start")
        time.sleep(0.05)
