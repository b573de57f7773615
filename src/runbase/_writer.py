"""Background batching of metric points, so logging in a training loop never waits on storage.

``log`` appends a tuple to a deque (thread-safe, no lock) and returns. A daemon thread drains the
deque at least every ``flush_interval`` seconds, groups points by run and key, and writes each
run's points as columns in one transaction. ``flush`` drains in the caller's thread; drains are
serialised by a lock, so points reach the store in the order they were logged.

Failures are never swallowed: the error is kept and raised by the next ``log`` or ``flush``. A
store that is temporarily unavailable keeps its points pending and is retried; points the store
rejects for good (a deleted run) are reported with their count in that error.

With a :class:`~runbase._spool.Spool` (a remote store), every write carries a batch id, and a
server that cannot be reached or answers 5xx does not hold anything up: metric batches, and the
synchronous writes made through :meth:`MetricWriter.write` and :meth:`MetricWriter.end_run`
(params, tags, run ends), go to the spool on disk, in order. While the spool has entries, new
writes join it behind them; the thread replays it with backoff (1 s doubling to 30 s) and
``flush`` replays it at once. Params are still checked by the server when it is up (a changed
param raises at once); one logged while it is down is checked at replay, and a rejection is
raised by the next ``log`` or ``flush``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np

from runbase._spool import EndRun, Operation, ReplayResult, Spool, replay_orphans
from runbase.entities import Param, RunInfo, RunTag
from runbase.errors import RunbaseError, ServerUnavailableError, StoreError
from runbase.store.base import MetricColumns, RunWrite, Store

_log = logging.getLogger("runbase")

#: Above this many pending points, ``log`` waits for a drain instead of growing memory unbounded.
_HIGH_WATER: Final = 2_000_000
#: Draining starts early once this many points are pending, to keep batches a useful size.
_EAGER_DRAIN: Final = 100_000
#: Replays of the spool back off from the first delay, doubling up to the last.
_REPLAY_BACKOFF: Final = (1.0, 30.0)

Point = tuple[str, str, float, int, int]  # run_id, key, value, timestamp ms, step


class MetricWriter:
    """Batches points for one store. Create one per store; it is safe to share across threads."""

    def __init__(
        self, store: Store, flush_interval: float = 1.0, spool: Spool | None = None
    ) -> None:
        self._store = store
        self._spool = spool
        self._interval = flush_interval
        self._queue: deque[Point] = deque()
        self._pending: list[Point] = []  # drained but not yet stored (store unavailable)
        self._drain_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._offline = False
        self._replay_failures = 0
        self._next_replay = 0.0
        self._orphans_due = spool is not None
        self.error: RunbaseError | None = None
        # The thread holds only a weak reference, so an unused writer can be collected.
        self._thread = threading.Thread(
            target=_run,
            args=(weakref.ref(self), self._wake, flush_interval),
            name="runbase-writer",
            daemon=True,
        )
        self._thread.start()

    def log(self, run_id: str, key: str, value: float, timestamp: int, step: int) -> None:
        if self.error is not None:
            self._raise_error()
        queue = self._queue
        queue.append((run_id, key, value, timestamp, step))
        if len(queue) >= _EAGER_DRAIN:
            self._wake.set()
            if len(queue) >= _HIGH_WATER:
                self.flush()

    def flush(self) -> None:
        """Store every point logged so far, then raise any error the writer has seen.

        With a spool, points that wait in it for the server are safe on disk and raise nothing.
        """
        self._drain()
        self._replay(force=True)
        if self.error is not None or self._pending:
            self._raise_error()

    def close(self) -> None:
        """Flush and stop the thread. Errors from the last flush are raised."""
        self._closed = True
        self._wake.set()
        try:
            self.flush()
        finally:
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=5)
            if self._spool is not None:
                if self._spool.pending:
                    _log.warning(
                        "runbase: %d writes for %s are still in the spool %s; they are sent by "
                        "`runbase sync` or by the next runbase client of this server",
                        self._spool.pending,
                        self._spool.server_url,
                        self._spool.path,
                    )
                self._spool.close()

    # -- synchronous writes ------------------------------------------------------------------
    def write(
        self,
        run_id: str,
        metrics: Mapping[str, MetricColumns] | None = None,
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Write now (params, tags, whole series); with a spool and the server down, spool."""
        if self._spool is None:
            self._store.log_columns(run_id, metrics, params, tags)
            return
        write = RunWrite(run_id, metrics or {}, params, tags, uuid.uuid4().hex)
        self._now_or_spooled(write)

    def end_run(self, run_id: str, status: str, end_time: int) -> RunInfo | None:
        """Flush, then record a run's end. None when the server is down and the end is spooled
        (it is recorded when the spool is replayed)."""
        self.flush()
        if self._spool is None:
            return self._store.update_run(run_id, status=status, end_time=end_time)
        return self._now_or_spooled(EndRun(run_id, status, end_time))

    def _now_or_spooled(self, op: Operation) -> RunInfo | None:
        spool = self._spool
        assert spool is not None
        if not spool.pending:
            try:
                if isinstance(op, EndRun):
                    return self._store.update_run(op.run_id, status=op.status, end_time=op.end_time)
                self._store.log_columns(op.run_id, op.metrics, op.params, op.tags, op.batch_id)
                return None
            except ServerUnavailableError as exc:
                self._went_offline(exc)
        try:
            spool.append([op])
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"The server is unreachable and the spool {spool.path} failed: {exc}"
            ) from exc
        return None

    # -- internals ---------------------------------------------------------------------------
    def _raise_error(self) -> None:
        error = self.error or StoreError(
            f"{len(self._pending)} metric points are still waiting for the store"
        )
        self.error = None
        raise error

    def _drain(self) -> None:
        with self._drain_lock:
            queue = self._queue
            batch = self._pending
            self._pending = []
            pop = queue.popleft
            for _ in range(len(queue)):
                batch.append(pop())
            if batch:
                self._write(batch)

    def _write(self, batch: list[Point]) -> None:
        columns_by_run = _group(batch)
        if self._spool is not None:
            self._write_or_spool(batch, columns_by_run, self._spool)
            return
        for run_id, columns in columns_by_run.items():
            try:
                self._store.log_columns(run_id, columns)
            except StoreError as exc:
                # The store may come back (lock timeout, disk freed): keep the points.
                self._pending.extend(p for p in batch if p[0] == run_id)
                self.error = exc
                _log.warning("runbase: metrics not stored yet, will retry: %s", exc)
            except RunbaseError as exc:
                self._rejected(run_id, columns, exc)

    def _write_or_spool(
        self,
        batch: list[Point],
        columns_by_run: dict[str, dict[str, MetricColumns]],
        spool: Spool,
    ) -> None:
        writes = [RunWrite(r, c, batch_id=uuid.uuid4().hex) for r, c in columns_by_run.items()]
        if not spool.pending:
            try:
                rejected = self._store.ingest(writes)
            except ServerUnavailableError as exc:
                self._went_offline(exc)
            except StoreError as exc:  # not an outage (refused, too large...): keep and report
                self._pending.extend(batch)
                self.error = exc
                _log.warning("runbase: metrics not stored yet, will retry: %s", exc)
                return
            else:
                for index, error in rejected.items():
                    self._rejected(writes[index].run_id, writes[index].metrics, error)
                return
        try:
            spool.append(writes)  # behind what is already waiting, so order is kept
        except (OSError, sqlite3.Error) as exc:
            self._pending.extend(batch)
            self.error = StoreError(f"The server is unreachable and the spool failed: {exc}")
            _log.error("runbase: %s", self.error)

    def _rejected(
        self, run_id: str, columns: Mapping[str, MetricColumns], exc: RunbaseError
    ) -> None:
        count = sum(len(c) for c in columns.values())
        self.error = type(exc)(f"{count} metric points for run {run_id} were rejected: {exc}")
        _log.error("runbase: %s", self.error)

    def _went_offline(self, exc: StoreError) -> None:
        if not self._offline:
            self._offline = True
            _log.warning(
                "runbase: %s; writes are kept in the spool %s and sent when the server is back",
                exc,
                self._spool.directory if self._spool else None,
            )
        self._next_replay = time.monotonic() + _REPLAY_BACKOFF[0]

    def _replay(self, *, force: bool = False) -> None:
        spool = self._spool
        if spool is None or not (force or time.monotonic() >= self._next_replay):
            return
        if spool.pending:
            self._report(spool.replay(self._store))
        if self._orphans_due and not spool.pending and not self._replay_failures:
            # Spools left by exited processes: sent once the server answers again.
            self._orphans_due = False
            for path, result in replay_orphans(self._store, spool.directory, spool.server_url):
                self._report(result, orphan=path)
                if result.error is not None:
                    self._orphans_due = True

    def _report(self, result: ReplayResult, orphan: Path | None = None) -> None:
        if result.rejected:
            run_id, first = result.rejected[0]
            where = f"the spool {orphan}" if orphan else "the spool"
            error = type(first)(
                f"{len(result.rejected)} spooled writes were rejected by the server (kept in "
                f"{where}'s 'rejected' table); the first, for run {run_id}: {first}"
            )
            _log.error("runbase: %s", error)
            if orphan is None:  # another process's rejections are logged, not raised here
                self.error = error
        if result.error is not None:
            self._replay_failures += 1
            shortest, longest = _REPLAY_BACKOFF
            delay = min(longest, shortest * 2 ** (self._replay_failures - 1))
            self._next_replay = time.monotonic() + delay
            return
        self._replay_failures = 0
        if self._offline and result.remaining == 0:
            self._offline = False
            self._orphans_due = True
            _log.warning(
                "runbase: the server is back; %d spooled writes (%d points) sent",
                result.sent,
                result.points,
            )

    def _tick(self) -> None:
        self._drain()
        self._replay()


def _group(batch: list[Point]) -> dict[str, dict[str, MetricColumns]]:
    """Points as columns per run and key, in logged order within each series.

    A plain loop: measured faster than transposing with ``zip(*batch)`` plus numpy grouping,
    because unpacking a drain of 100k tuples as arguments costs more than it saves."""
    by_run: dict[str, dict[str, tuple[list[int], list[int], list[float]]]] = {}
    for run_id, key, value, timestamp, step in batch:
        series = by_run.get(run_id)
        if series is None:
            series = by_run[run_id] = {}
        cols = series.get(key)
        if cols is None:
            cols = series[key] = ([], [], [])
        cols[0].append(step)
        cols[1].append(timestamp)
        cols[2].append(value)
    return {
        run_id: {
            key: MetricColumns(
                np.array(s, dtype=np.int64),
                np.array(t, dtype=np.int64),
                np.array(v, dtype=np.float64),
            )
            for key, (s, t, v) in series.items()
        }
        for run_id, series in by_run.items()
    }


def _run(ref: weakref.ref[MetricWriter], wake: threading.Event, interval: float) -> None:
    while True:
        wake.wait(interval)
        wake.clear()
        writer = ref()
        if writer is None or writer._closed:
            return
        try:
            writer._tick()
        except Exception as exc:  # never let the thread die: the error must reach the user
            writer.error = StoreError(f"runbase writer failed: {exc!r}")
        del writer
        time.sleep(0)
