"""A throwaway PostgreSQL server for the test session, started from Debian's ``postgresql`` package.

``RUNBASE_TEST_POSTGRES_URI`` (a ``postgresql+psycopg://`` URI to a server where the user may
create databases) uses an existing server instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SEARCH_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _binary(name: str) -> str:
    for folder in _SEARCH_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} was not found. Install the server (Debian: "
            "`apt-get install -y postgresql`, which `make system-deps` does), or point "
            "RUNBASE_TEST_POSTGRES_URI at a server, or deselect with `-m 'not postgres'`."
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; Debian's package creates the `postgres` user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URI of the ``postgres`` database on a fresh server; stop and delete it after."""
    existing = os.environ.get("RUNBASE_TEST_POSTGRES_URI")
    if existing:
        yield existing
        return
    workdir = Path(tempfile.mkdtemp(prefix="runbase-pg-"))
    data = workdir / "data"
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
    user = "postgres"
    subprocess.run(
        _as_server_user(
            [
                _binary("initdb"),
                "-D",
                str(data),
                "-U",
                user,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    # Durability is not under test; fsync off makes creating a database per test cheap.
    options = (
        f"-p {port} -k {workdir} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        _as_server_user(
            [
                _binary("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(workdir / "log"),
                "-o",
                options,
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user([_binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def fresh_database(server_uri: str) -> Iterator[str]:
    """Create an empty database on the server, yield its URI, drop it after."""
    import psycopg

    name = f"rb_{uuid.uuid4().hex[:12]}"
    admin = server_uri.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_uri.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        deadline = time.monotonic() + 10
        with psycopg.connect(admin, autocommit=True) as conn:
            while True:
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    break
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
