"""Engines for SQLite and PostgreSQL, and bringing their schema to the newest revision.

SQLite follows one rule: one writer at a time, readers never blocked. WAL mode lets readers run
beside a writer; writes take the lock up front (``BEGIN IMMEDIATE``) so two writers queue on the
busy timeout instead of deadlocking on a lock upgrade, which is what raises "database is locked".
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from runbase.errors import InvalidInputError, StoreError

SCHEMA_REVISION: Final = "0004"
_MIGRATIONS: Final = str(Path(__file__).parent / "migrations")
_BUSY_TIMEOUT_S: Final = 120.0
#: Bytes of the database file readers map into memory. A metric series is read as a few hundred
#: 16 KiB blobs, each a chain of overflow pages; without the map SQLite fetches every page with
#: its own read() call, which was most of the time of reading a long series (18 ms of 24 MB for a
#: million points, 8 ms mapped). The map is address space over the OS page cache, not memory of
#: our own; pages past it are read as before.
_READ_MMAP_BYTES: Final = 1 << 30
#: WAL pages at which a commit checkpoints inline, when the checkpoint thread fell behind.
_INLINE_CHECKPOINT_PAGES: Final = 10_000
#: After a commit, the checkpoint thread waits this long for more commits to gather.
_CHECKPOINT_DELAY_S: Final = 0.05
#: The thread exits after this long without a commit (and starts again at the next).
_CHECKPOINT_IDLE_S: Final = 2.0


class _Checkpointer:
    """Checkpoints a SQLite file's WAL in a thread of its own, off the commit path.

    By default the commit that takes the WAL past 1,000 pages copies them into the database
    file itself: a random write for every page an index insert dirtied, in the caller's thread.
    Here commits wake a thread that checkpoints (PASSIVE: never waits on readers or writers) a
    moment later, while the caller goes on; a page written by several commits meanwhile is
    copied once. A commit still checkpoints inline past ``_INLINE_CHECKPOINT_PAGES``, so the WAL
    stays bounded when the thread cannot keep up.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False
        _open_checkpointers.add(self)

    def nudge(self) -> None:
        with self._lock:
            self._wake.set()
            if self._closed:
                return  # after close, only the inline checkpoint past its threshold remains
            if self._thread is None or self._pid != os.getpid():  # none yet, or forked
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="runbase-checkpoint", daemon=True
                )
                self._thread.start()

    def close(self) -> None:
        """Stop the thread and close its connection, so that the store's own last connection
        to close is the last one of the process: SQLite then checkpoints the whole WAL and
        removes it, leaving a database file that holds everything by itself."""
        with self._lock:
            self._closed = True
            self._wake.set()
            _open_checkpointers.discard(self)
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _run(self) -> None:
        conn = None
        try:
            conn = sqlite3.connect(self._path, timeout=0, isolation_level=None)
            while True:
                if not self._wake.wait(_CHECKPOINT_IDLE_S):
                    with self._lock:
                        if not self._wake.is_set():
                            self._thread = None
                            return
                time.sleep(_CHECKPOINT_DELAY_S)
                self._wake.clear()
                # After the clear: a close before it is seen here, one after it wakes the wait.
                if self._closed:
                    return
                # Busy, read-only, disk full: the commits' inline checkpoint remains.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # cannot open the file: the commits checkpoint inline, as by default
        finally:
            if conn is not None:
                conn.close()
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None


#: Checkpointers not closed yet: closed at exit too, for a program that never closes its store
#: (its daemon thread would otherwise die holding a connection, and the WAL stay behind).
_open_checkpointers: weakref.WeakSet[_Checkpointer] = weakref.WeakSet()


@atexit.register
def _close_open_checkpointers() -> None:
    for checkpointer in list(_open_checkpointers):
        checkpointer.close()


def _sqlite_engine(
    url: sa.URL,
    begin: str,
    pool_size: int,
    mmap_bytes: int = 0,
    checkpointer: _Checkpointer | None = None,
) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_S},
        pool_size=pool_size,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to choose.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # SQLite's default page cache is 2 MiB, which a sweep's store outgrows within a few
        # thousand runs. In standalone 10,000-trial sweeps the cost per trial then rose with the
        # store (4.4 -> 7.6 ms); with 64 MiB it stayed near 6.3 ms. Pages are allocated as used.
        cur.execute("PRAGMA cache_size=-65536")
        if checkpointer is not None:
            cur.execute(f"PRAGMA wal_autocheckpoint={_INLINE_CHECKPOINT_PAGES}")
        # MLflow's LIKE is case-sensitive (ILIKE is not); SQLite's LIKE is not by default.
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
        if mmap_bytes:
            cur.execute(f"PRAGMA mmap_size={mmap_bytes}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)

    if checkpointer is not None:

        @event.listens_for(engine, "commit")
        def _on_commit(_conn: sa.Connection) -> None:
            checkpointer.nudge()

    return engine


#: The checkpointer of each SQLite write engine, stopped by :func:`dispose_engines`.
_checkpointers: weakref.WeakKeyDictionary[Engine, _Checkpointer] = weakref.WeakKeyDictionary()


def dispose_engines(*engines: Engine) -> None:
    """Close the engines' connections (each engine once), their checkpoint threads first."""
    for engine in dict.fromkeys(engines):
        checkpointer = _checkpointers.pop(engine, None)
        if checkpointer is not None:
            checkpointer.close()
    for engine in dict.fromkeys(engines):
        engine.dispose()


def create_engines(uri: str) -> tuple[Engine, Engine]:
    """Return ``(write_engine, read_engine)`` for a ``sqlite:///`` or ``postgresql://`` URI."""
    url = sa.make_url(uri)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise InvalidInputError("runbase needs a SQLite file, not an in-memory database")
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # One pooled connection for writes: within a process writes queue on the pool, across
        # processes on SQLite's lock.
        checkpointer = _Checkpointer(str(Path(url.database).expanduser()))
        writer = _sqlite_engine(url, "BEGIN IMMEDIATE", 1, checkpointer=checkpointer)
        _checkpointers[writer] = checkpointer
        return writer, _sqlite_engine(url, "BEGIN", 4, _READ_MMAP_BYTES)
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        try:
            engine = sa.create_engine(url, pool_size=8, max_overflow=8, pool_pre_ping=True)
        except ModuleNotFoundError as exc:
            raise StoreError(
                "PostgreSQL support needs psycopg: pip install 'runbase[postgres]'"
            ) from exc
        return engine, engine
    raise InvalidInputError(f"Unsupported database URI {uri!r}: use sqlite:/// or postgresql://")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is already there)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _MIGRATIONS)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several processes may open a fresh database at once; one of them creates it.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7461626173)"))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def ensure_schema(engine: Engine, *, auto_upgrade: bool) -> None:
    revision = current_revision(engine)
    if revision == SCHEMA_REVISION:
        return
    if revision is not None and not auto_upgrade:
        raise StoreError(
            f"The database is at schema revision {revision}, this runbase needs "
            f"{SCHEMA_REVISION}: run `runbase db upgrade`"
        )
    upgrade(engine)
