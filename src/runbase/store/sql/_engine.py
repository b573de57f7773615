"""Engines for SQLite and PostgreSQL, and bringing their schema to the newest revision.

SQLite follows one rule: one writer at a time, readers never blocked. WAL mode lets readers run
beside a writer; writes take the lock up front (``BEGIN IMMEDIATE``) so two writers queue on the
busy timeout instead of deadlocking on a lock upgrade, which is what raises "database is locked".
"""

from __future__ import annotations

import sqlite3
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


def _sqlite_engine(url: sa.URL, begin: str, pool_size: int, mmap_bytes: int = 0) -> Engine:
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
        # MLflow's LIKE is case-sensitive (ILIKE is not); SQLite's LIKE is not by default.
        cur.execute("PRAGMA case_sensitive_like=ON")
        cur.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
        if mmap_bytes:
            cur.execute(f"PRAGMA mmap_size={mmap_bytes}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


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
        writer = _sqlite_engine(url, "BEGIN IMMEDIATE", 1)
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
