"""Background batching of metric points, so logging in a training loop never waits on storage.

``log`` appends a ``(value, timestamp, step)`` tuple to its series' list (one list per run and
key, kept by the writer) and returns: no lock, no grouping, no conversion on the caller's side.
A daemon thread drains every list at least every ``flush_interval`` seconds, turns each into
numpy columns in one pass, and writes each run's series in one transaction. ``flush`` drains in
the caller's thread; drains are serialised by a lock, so points reach the store in the order
they were logged.

Draining never loses a point logged meanwhile: only ``log`` appends, and only at the end of a
list, so the drain takes a list's first ``n`` points and deletes exactly those (two atomic list
operations) while appends go on behind them. Ending a run retires its lists; a retired list is
drained again and dropped only once nothing but the writer holds it.

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

import atexit
import functools
import logging
import sqlite3
import struct
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from itertools import islice
from math import floor
from pathlib import Path
from typing import Final

import numpy as np

from runbase import _validation as v
from runbase._spool import EndRun, Operation, ReplayResult, Spool, replay_orphans
from runbase.entities import Param, RunInfo, RunTag
from runbase.errors import RunbaseError, ServerUnavailableError, StoreError
from runbase.store.base import MetricColumns, RunWrite, Store

_log = logging.getLogger("runbase")

#: A series' list this long (in points) is turned into arrays by the thread that logs, while
#: its objects are still in the CPU's caches: converting them later, cold, costs several times
#: more, and a short list keeps memory flat.
_BATCH_POINTS: Final = 2048
#: The same, in list items: a series' list holds three per point.
BATCH_FIELDS: Final = 3 * _BATCH_POINTS
#: Converted points waiting for the thread: this many wake it early, to keep batches a useful
#: size; this many make ``log`` store them in the caller's thread instead of growing memory.
_EAGER_DRAIN: Final = 100_000
_HIGH_WATER: Final = 2_000_000
#: ``log_metric_series`` queues series shorter than this (``append``), stores longer ones at once.
QUEUED_SERIES_POINTS: Final = _EAGER_DRAIN
#: Replays of the spool back off from the first delay, doubling up to the last.
_REPLAY_BACKOFF: Final = (1.0, 30.0)
#: Timestamps this large in magnitude are not exact as float64: converted one by one.
_EXACT_FLOAT: Final = 2.0**53
_now: Final = time.time

#: A series' points, flat: value, timestamp in ms (a float when read from the clock), step, value...
Series = list[float]
#: ``(run_id, key, points)``: one series' list, as drained.
Entry = tuple[str, str, Series]
#: Pending columns per run, in the order they were drained.
Columns = dict[str, dict[str, MetricColumns]]

#: Writers not closed yet: a program that ends without closing its client still stores (or
#: spools) what it queued, at exit.
_open_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


class MetricWriter:
    """Batches points for one store. Create one per store; it is safe to share across threads."""

    def __init__(
        self, store: Store, flush_interval: float = 1.0, spool: Spool | None = None
    ) -> None:
        self._store = store
        self._spool = spool
        self._interval = flush_interval
        #: run id -> metric key -> the series' points, flat. Lists are created by
        #: ``new_series`` and never replaced while their run is open; ``log`` (and the fluent
        #: ``log_metric``, which inlines it) only appends, the drain only takes prefixes.
        self.series: dict[str, dict[str, Series]] = {}
        self._series_lock = threading.Lock()
        # Taking points out of lists (``full``, the drain), and what was taken: series converted
        # by ``full`` and waiting for the thread, and the lists of ended runs, drained until no
        # one holds them.
        self._take_lock = threading.Lock()
        self._converted: dict[str, dict[str, list[MetricColumns]]] = {}
        self._converted_points = 0
        self._retired: list[Entry] = []
        self._pending: Columns = {}  # drained but not yet stored (store unavailable)
        self._drain_lock = threading.Lock()  # one drain at a time, so writes keep their order
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
        _open_writers.add(self)

    def log(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
    ) -> None:
        """Queue one point: the hot path of a training loop, so full checks only run for what is
        new (a series' first point) or unusual (a value that is not a float, a big step)."""
        # Keep in step with runbase._fluent.log_metric, which inlines this body.
        if self.error is not None:
            self.raise_error()
        if step is None:
            step = 0
        # Floats and small int steps pass on comparisons CPython runs fastest (single-digit
        # ints); anything else goes through the full checks.
        if (
            type(value) is not float
            or type(step) is not int
            or step > 0x3FFFFFFF
            or step < -0x3FFFFFFF
        ):
            value, step = v.validate_metric_value(key, value), v.validate_step(key, step)
        point = (value, _now() * 1000.0 if timestamp is None else int(timestamp), step)
        try:
            points = self.series[run_id][key]
        except KeyError:
            points = self.new_series(run_id, key)
        points += point  # one C call: the three fields land together
        if len(points) >= BATCH_FIELDS:
            self.full(run_id, key, points)

    def new_series(self, run_id: str, key: str) -> Series:
        """The list of a series ``log`` has no list for yet, created if need be (the key is
        checked then, once per run and key)."""
        v.validate_key("Metric key", key)
        with self._series_lock:
            keys = self.series.get(run_id)
            if keys is None:
                keys = self.series[run_id] = {}
            points = keys.get(key)
            if points is None:
                points = keys[key] = []
            return points

    def full(self, run_id: str, key: str, points: Series) -> None:
        """A series' list reached ``_BATCH_POINTS``: convert it here, wake the thread when enough
        is converted, and store in this thread when the thread cannot keep up."""
        with self._take_lock:
            n = len(points) // 3 * 3
            if n < BATCH_FIELDS:  # a drain took them meanwhile
                return
            cols = _take_columns(points, n)
            self._converted.setdefault(run_id, {}).setdefault(key, []).append(cols)
            self._converted_points += n // 3
            converted = self._converted_points
        if converted >= _EAGER_DRAIN and not self._wake.is_set():
            self._wake.set()
        if converted >= _HIGH_WATER:
            self.flush()

    def append(self, run_id: str, key: str, cols: MetricColumns) -> None:
        """Queue a block of a series' points (``log_metric_series`` with a short one): stored
        with the next drain, in one transaction with everything else queued, as ``log``'s
        points are. The columns must be the caller's no longer (copies)."""
        if self.error is not None:
            self.raise_error()
        v.validate_key("Metric key", key)
        with self._take_lock:
            earlier = self.series.get(run_id, {}).get(key)
            queued = self._converted.setdefault(run_id, {}).setdefault(key, [])
            if earlier:  # points ``log`` queued before these go first
                n = len(earlier) // 3 * 3
                if n:
                    queued.append(_take_columns(earlier, n))
                    self._converted_points += n // 3
            queued.append(cols)
            self._converted_points += len(cols)
            converted = self._converted_points
        if converted >= _EAGER_DRAIN and not self._wake.is_set():
            self._wake.set()
        if converted >= _HIGH_WATER:
            self.flush()

    def flush(self) -> None:
        """Store every point logged so far, then raise any error the writer has seen.

        With a spool, points that wait in it for the server are safe on disk and raise nothing.
        """
        self._drain()
        self._replay(force=True)
        if self.error is not None or self._pending:
            self.raise_error()

    def close(self) -> None:
        """Flush and stop the thread. Errors from the last flush are raised."""
        _open_writers.discard(self)
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
        self._retire(run_id)
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
    def raise_error(self) -> None:
        error = self.error or StoreError(
            f"{_count(self._pending)} metric points are still waiting for the store"
        )
        self.error = None
        raise error

    def _retire(self, run_id: str) -> None:
        """Stop keeping lists for an ended run; what they still hold (or get) is drained."""
        with self._series_lock:
            keys = self.series.pop(run_id, None)
        if keys:
            with self._take_lock:
                self._retired.extend((run_id, key, points) for key, points in keys.items())

    def _drain(self) -> None:
        with self._drain_lock:
            with self._take_lock:
                # Oldest first: what failed to store, then what ``full`` converted, then what
                # the lists still hold.
                batch, self._pending = self._pending, {}
                for run_id, series in self._converted.items():
                    for key, parts in series.items():
                        _add(batch, run_id, key, _concat(*parts))
                self._converted, self._converted_points = {}, 0
                entries = self._retired + [
                    (run_id, key, points)
                    for run_id, keys in list(self.series.items())
                    for key, points in list(keys.items())
                ]
                _take(entries, batch)
                del entries
                if self._retired:
                    self._retired = [e for e in self._retired if e[2] or _held(e) > _UNHELD]
            if batch:
                self._write(batch)

    def _write(self, batch: Columns) -> None:
        if self._spool is not None:
            self._write_or_spool(batch, self._spool)
            return
        for run_id, columns in batch.items():
            try:
                self._store.log_columns(run_id, columns)
            except StoreError as exc:
                # The store may come back (lock timeout, disk freed): keep the points.
                self._pending[run_id] = columns
                self.error = exc
                _log.warning("runbase: metrics not stored yet, will retry: %s", exc)
            except RunbaseError as exc:
                self._rejected(run_id, columns, exc)

    def _write_or_spool(self, batch: Columns, spool: Spool) -> None:
        writes = [RunWrite(r, c, batch_id=uuid.uuid4().hex) for r, c in batch.items()]
        if not spool.pending:
            try:
                rejected = self._store.ingest(writes)
            except ServerUnavailableError as exc:
                self._went_offline(exc)
            except StoreError as exc:  # not an outage (refused, too large...): keep and report
                self._pending.update(batch)
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
            self._pending.update(batch)
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


#: A series' list, packed: value and timestamp as float64, step as int64, point after point.
_POINT_DTYPE: Final = np.dtype([("value", "<f8"), ("timestamp", "<f8"), ("step", "<i8")])


@functools.lru_cache(maxsize=8)
def _packer(points: int) -> struct.Struct:
    return struct.Struct("<" + "ddq" * points)


def _take_columns(points: Series, n: int) -> MetricColumns:
    """Take a series' first ``n`` fields (whole points) out of its list, as columns.

    One C pass over the list (``struct`` packs it several times faster than numpy iterates it),
    the objects freed right after, while still in cache. The caller holds ``_take_lock``: points
    logged meanwhile land behind the first ``n`` and stay."""
    cols = _pack(points[:n], n // 3)
    del points[:n]
    return cols


def _pack(fields: Series, count: int) -> MetricColumns:
    """``count`` points given as their fields (value, timestamp, step, value...), as columns.

    Steps stay exact (int64); timestamps go through float64, exact below 2**53 ms in magnitude
    (points with bigger ones, which only a caller can give, are converted one by one)."""
    buffer = _packer(count).pack(*fields)
    packed = np.frombuffer(buffer, _POINT_DTYPE)
    stamps = packed["timestamp"]
    if max(-stamps.min(), stamps.max()) >= _EXACT_FLOAT:
        exact = np.array([floor(t) for t in fields[1::3]], dtype=np.int64)
    else:
        # Clock timestamps are fractional milliseconds: floor, as integer division would.
        exact = np.floor(stamps).astype(np.int64)
    return MetricColumns(packed["step"].copy(), exact, packed["value"].copy())


def _take(entries: list[Entry], batch: Columns) -> None:
    """Move every whole point the entries' lists hold into ``batch``, as columns.

    The lists are packed together, in one pass: a drain often finds many series of a few
    points each (a sweep's trial logs 50 metrics a step), where numpy's cost per call, not per
    point, would dominate."""
    fields: Series = []
    taken: list[tuple[str, str, int]] = []
    for run_id, key, points in entries:
        n = len(points) // 3 * 3  # a point's three fields are added in one call
        if n:
            fields += islice(points, n)
            del points[:n]
            taken.append((run_id, key, n // 3))
    if not taken:
        return
    steps, stamps, values = _pack(fields, len(fields) // 3)
    del fields
    start = 0
    for run_id, key, count in taken:
        end = start + count
        _add(
            batch,
            run_id,
            key,
            MetricColumns(steps[start:end], stamps[start:end], values[start:end]),
        )
        start = end


def _add(batch: Columns, run_id: str, key: str, cols: MetricColumns) -> None:
    """Append a series' columns to a batch, behind what it holds for that series."""
    series = batch.setdefault(run_id, {})
    earlier = series.get(key)
    series[key] = cols if earlier is None else _concat(earlier, cols)


def _concat(*parts: MetricColumns) -> MetricColumns:
    if len(parts) == 1:
        return parts[0]
    return MetricColumns(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def _count(columns: Columns) -> int:
    return sum(len(c) for series in columns.values() for c in series.values())


@atexit.register
def _close_open_writers() -> None:
    for writer in list(_open_writers):
        try:
            writer.close()
        except Exception as exc:  # the process is ending: say what was lost, close the rest
            _log.error("runbase: metric points queued before exit were not stored: %s", exc)


def _held(entry: Entry) -> int:
    """References to a retired list: above ``_UNHELD``, some thread may still append to it."""
    return sys.getrefcount(entry[2])


_UNHELD: Final = _held(("", "", []))


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
