"""The offline spool: writes for a tracking server that is down, kept on disk until it is back.

Layout::

    ~/.cache/runbase/spool/          (RUNBASE_SPOOL_DIR, or $XDG_CACHE_HOME/runbase/spool)
        <server key>/                sha256 of the server URL, 16 hex; server.txt holds the URL
            <uuid>.spool             one SQLite file per client (process), created on first use

Each entry is one operation of the store: a run's write (metric columns, params, tags) with its
batch id, or the end of a run (status and end time). An append is one transaction with
``synchronous=FULL``, so it is on disk (fsync'd) when :meth:`Spool.append` returns. Entries are
replayed in order; the server stores each batch id once, so an entry sent twice (its answer was
lost, or two processes replayed it) is stored once. A write the server rejects (a deleted run, a
changed param) moves to the file's ``rejected`` table, where it stays for inspection.

The owner of a spool holds an exclusive ``flock`` on its file while it lives. A file nobody holds
was left by a process that exited with the server still down: ``runbase sync``, or the next client
of the same server, replays it (:func:`replay_orphans`) and deletes it once it is empty.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec
import numpy as np

from runbase.entities import Param, RunTag
from runbase.errors import RunbaseError, StoreError
from runbase.store.base import MetricColumns, RunWrite, Store, now_ms

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no adoption of other processes' spools
    fcntl = None  # type: ignore[assignment]

__all__ = ["EndRun", "ReplayResult", "Spool", "replay_orphans", "server_directory", "spool_root"]

_log = logging.getLogger("runbase")

#: Entries sent to the store per ``ingest`` call during a replay.
_REPLAY_BATCH: Final = 64

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    points INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    body BLOB NOT NULL,
    error_code TEXT NOT NULL,
    message TEXT NOT NULL,
    rejected_ms INTEGER NOT NULL
);
"""


class EndRun(msgspec.Struct, frozen=True):
    """Ending a run (``Store.update_run`` with a status and an end time), as a spool entry."""

    run_id: str
    status: str
    end_time: int


Operation = RunWrite | EndRun


# -- encoding ------------------------------------------------------------------------------------
class _Series(msgspec.Struct, array_like=True):
    key: str
    steps: bytes  # little-endian int64
    timestamps: bytes  # little-endian int64
    values: bytes  # little-endian float64: NaN and infinities kept bit for bit


class _Write(msgspec.Struct, tag="write", array_like=True):
    run_id: str
    batch_id: str
    metrics: list[_Series]
    params: list[tuple[str, str]]
    tags: list[tuple[str, str]]


class _End(msgspec.Struct, tag="end", array_like=True):
    run_id: str
    status: str
    end_time: int


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(_Write | _End)


def _encode(op: Operation) -> bytes:
    if isinstance(op, EndRun):
        return _ENCODER.encode(_End(op.run_id, op.status, op.end_time))
    if op.batch_id is None:
        raise ValueError("a spooled write needs a batch id")
    return _ENCODER.encode(
        _Write(
            op.run_id,
            op.batch_id,
            [
                _Series(
                    key,
                    cols.steps.astype("<i8").tobytes(),
                    cols.timestamps.astype("<i8").tobytes(),
                    cols.values.astype("<f8").tobytes(),
                )
                for key, cols in op.metrics.items()
            ],
            [(p.key, p.value) for p in op.params],
            [(t.key, t.value) for t in op.tags],
        )
    )


def _decode(body: bytes) -> Operation:
    entry = _DECODER.decode(body)
    if isinstance(entry, _End):
        return EndRun(entry.run_id, entry.status, entry.end_time)
    metrics = {
        s.key: MetricColumns(
            np.frombuffer(s.steps, "<i8").astype(np.int64),
            np.frombuffer(s.timestamps, "<i8").astype(np.int64),
            np.frombuffer(s.values, "<f8").astype(np.float64),
        )
        for s in entry.metrics
    }
    return RunWrite(
        entry.run_id,
        metrics,
        [Param(k, v) for k, v in entry.params],
        [RunTag(k, v) for k, v in entry.tags],
        entry.batch_id,
    )


def _points(op: Operation) -> int:
    return 0 if isinstance(op, EndRun) else sum(len(c) for c in op.metrics.values())


# -- where spools live ---------------------------------------------------------------------------
def spool_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``explicit``, else ``RUNBASE_SPOOL_DIR``, else ``$XDG_CACHE_HOME/runbase/spool`` (default
    ``~/.cache/runbase/spool``)."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get("RUNBASE_SPOOL_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "runbase" / "spool"


def server_directory(root: Path, server_url: str) -> Path:
    """The folder of one server's spools (not created here)."""
    key = hashlib.sha256(server_url.rstrip("/").lower().encode()).hexdigest()[:16]
    return root / key


# -- the spool -----------------------------------------------------------------------------------
@dataclass
class ReplayResult:
    sent: int = 0
    points: int = 0
    rejected: list[tuple[str, RunbaseError]] = field(default_factory=list)  # (run id, error)
    remaining: int = 0
    error: StoreError | None = None  # why the replay stopped early


class Spool:
    """One client's spool for one server. Thread-safe; the file exists only while it has
    entries (or rejected ones)."""

    def __init__(self, directory: Path, server_url: str) -> None:
        self.directory = directory
        self.server_url = server_url
        self.path: Path | None = None
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._mutex = threading.Lock()  # guards the connection and the count
        self._replay_lock = threading.Lock()
        self._pending = 0

    @classmethod
    def adopt(cls, path: Path, server_url: str) -> Spool | None:
        """Open another process's spool file if nobody holds it (None otherwise)."""
        spool = cls(path.parent, server_url)
        fd = _lock(path, create=False)
        if fd is None:
            return None
        spool._open(path, fd)
        return spool

    @property
    def pending(self) -> int:
        """Entries waiting to be sent."""
        return self._pending

    def _open(self, path: Path, fd: int) -> None:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        self.path, self._conn, self._lock_fd = path, conn, fd
        self._pending = conn.execute("SELECT count(*) FROM entries").fetchone()[0]

    def _create(self) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        label = self.directory / "server.txt"
        if not label.exists():
            label.write_text(self.server_url + "\n")
        while True:
            path = self.directory / f"{uuid.uuid4().hex}.spool"
            fd = _lock(path, create=True)
            if fd is not None:
                break
        self._open(path, fd)
        assert self._conn is not None
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn or self._create()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def append(self, ops: Sequence[Operation]) -> None:
        """Add operations at the end; they are on disk when this returns."""
        if not ops:
            return
        rows = [(op.run_id, _points(op), _encode(op), now_ms()) for op in ops]
        with self._mutex, self._transaction() as conn:
            conn.executemany(
                "INSERT INTO entries (run_id, points, body, created_ms) VALUES (?, ?, ?, ?)", rows
            )
            self._pending += len(rows)

    def replay(self, store: Store) -> ReplayResult:
        """Send every entry, in order, until done or the store fails (see ``error``).

        One replay runs at a time; appends go on meanwhile (the spool is not locked while the
        store is called) and are sent by this replay or the next.
        """
        result = ReplayResult()
        with self._replay_lock:
            while True:
                with self._mutex:
                    if self._conn is None:
                        break
                    rows = self._conn.execute(
                        "SELECT seq, run_id, body FROM entries ORDER BY seq LIMIT ?",
                        (_REPLAY_BATCH,),
                    ).fetchall()
                if not rows:
                    break
                try:
                    done, rejected = _send(store, [(seq, _decode(body)) for seq, _, body in rows])
                except StoreError as exc:
                    result.error = exc
                    break
                with self._mutex, self._transaction() as conn:
                    for seq, error in rejected.items():
                        conn.execute(
                            "INSERT INTO rejected SELECT seq, run_id, body, ?, ?, ? FROM entries "
                            "WHERE seq = ?",
                            (error.error_code, error.message, now_ms(), seq),
                        )
                    conn.executemany("DELETE FROM entries WHERE seq = ?", [(s,) for s in done])
                    self._pending -= len(done)
                runs = {seq: run_id for seq, run_id, _ in rows}
                result.sent += len(done) - len(rejected)
                result.points += sum(_points(op) for seq, op in done.items() if seq not in rejected)
                result.rejected += [(runs[seq], error) for seq, error in rejected.items()]
            result.remaining = self._pending
        return result

    def rejected_count(self) -> int:
        with self._mutex:
            if self._conn is None:
                return 0
            count: int = self._conn.execute("SELECT count(*) FROM rejected").fetchone()[0]
            return count

    def close(self) -> None:
        """Release the file; delete it when nothing is left in it."""
        with self._replay_lock, self._mutex:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            empty = not conn.execute(
                "SELECT EXISTS (SELECT 1 FROM entries) OR EXISTS (SELECT 1 FROM rejected)"
            ).fetchone()[0]
            conn.close()
            if empty and self.path is not None:
                self.path.unlink(missing_ok=True)
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None


def _send(
    store: Store, entries: list[tuple[int, Operation]]
) -> tuple[dict[int, Operation], dict[int, RunbaseError]]:
    """Apply entries in order: runs of writes in one ``ingest``, run ends one by one. Return the
    entries done (stored or rejected) and the rejected ones, by sequence number."""
    done: dict[int, Operation] = {}
    rejected: dict[int, RunbaseError] = {}
    start = 0
    while start < len(entries):
        seq, op = entries[start]
        if isinstance(op, EndRun):
            try:
                store.update_run(op.run_id, status=op.status, end_time=op.end_time)
            except StoreError:
                raise
            except RunbaseError as exc:
                rejected[seq] = exc
            done[seq] = op
            start += 1
            continue
        stop = start
        while stop < len(entries) and isinstance(entries[stop][1], RunWrite):
            stop += 1
        chunk = entries[start:stop]
        writes = [op for _, op in chunk if isinstance(op, RunWrite)]
        for index, error in store.ingest(writes).items():
            rejected[chunk[index][0]] = error
        done.update(chunk)
        start = stop
    return done, rejected


def _lock(path: Path, *, create: bool) -> int | None:
    """An fd holding an exclusive flock on ``path``; None when another process holds it (or it
    does not exist and ``create`` is false)."""
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        return None
    if fcntl is None:  # pragma: no cover - Windows
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    if not path.exists():  # deleted by its last user between our open and our lock
        os.close(fd)
        return None
    return fd


def replay_orphans(
    store: Store, directory: Path, server_url: str
) -> list[tuple[Path, ReplayResult]]:
    """Replay the spools in ``directory`` that no process holds (left by exited processes)."""
    results = []
    for path in sorted(directory.glob("*.spool")) if directory.is_dir() else []:
        spool = Spool.adopt(path, server_url)
        if spool is None:
            continue
        try:
            results.append((path, spool.replay(store)))
        finally:
            spool.close()
    return results
