"""Background batching of metric points, so logging in a training loop never waits on storage.

``log`` appends a tuple to a deque (thread-safe, no lock) and returns. A daemon thread drains the
deque at least every ``flush_interval`` seconds, groups points by run and key, and writes each
run's points as columns in one transaction. ``flush`` drains in the caller's thread; drains are
serialised by a lock, so points reach the store in the order they were logged.

Failures are never swallowed: the error is kept and raised by the next ``log`` or ``flush``. A
store that is temporarily unavailable keeps its points pending and is retried; points the store
rejects for good (a deleted run) are reported with their count in that error.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from typing import Final

import numpy as np

from runbase.errors import RunbaseError, StoreError
from runbase.store.base import MetricColumns, Store

_log = logging.getLogger("runbase")

#: Above this many pending points, ``log`` waits for a drain instead of growing memory unbounded.
_HIGH_WATER: Final = 2_000_000
#: Draining starts early once this many points are pending, to keep batches a useful size.
_EAGER_DRAIN: Final = 100_000

Point = tuple[str, str, float, int, int]  # run_id, key, value, timestamp ms, step


class MetricWriter:
    """Batches points for one store. Create one per store; it is safe to share across threads."""

    def __init__(self, store: Store, flush_interval: float = 1.0) -> None:
        self._store = store
        self._interval = flush_interval
        self._queue: deque[Point] = deque()
        self._pending: list[Point] = []  # drained but not yet stored (store unavailable)
        self._drain_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
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
        """Store every point logged so far, then raise any error the writer has seen."""
        self._drain()
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
        for run_id, series in by_run.items():
            columns = {
                key: MetricColumns(
                    np.array(s, dtype=np.int64),
                    np.array(t, dtype=np.int64),
                    np.array(v, dtype=np.float64),
                )
                for key, (s, t, v) in series.items()
            }
            try:
                self._store.log_columns(run_id, columns)
            except StoreError as exc:
                # The store may come back (lock timeout, disk freed): keep the points.
                self._pending.extend(p for p in batch if p[0] == run_id)
                self.error = exc
                _log.warning("runbase: metrics not stored yet, will retry: %s", exc)
            except RunbaseError as exc:
                count = sum(len(c) for c in columns.values())
                self.error = type(exc)(
                    f"{count} metric points for run {run_id} were rejected: {exc}"
                )
                _log.error("runbase: %s", self.error)


def _run(ref: weakref.ref[MetricWriter], wake: threading.Event, interval: float) -> None:
    while True:
        wake.wait(interval)
        wake.clear()
        writer = ref()
        if writer is None or writer._closed:
            return
        try:
            writer._drain()
        except Exception as exc:  # never let the thread die: the error must reach the user
            writer.error = StoreError(f"runbase writer failed: {exc!r}")
        del writer
        time.sleep(0)
