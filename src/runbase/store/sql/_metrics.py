"""Metric series in the SQL store: packed chunks, per-key summaries, and reading series back."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from runbase.errors import StoreError
from runbase.store.base import MetricColumns
from runbase.store.sql._schema import CHUNK_POINTS, metric_keys

_I8 = np.dtype("<i8")
_F8 = np.dtype("<f8")


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT with ``on_conflict_*`` for the connection's dialect (both speak ON CONFLICT)."""
    module = sqlite if conn.dialect.name == "sqlite" else postgresql
    return module.insert(table)


def intern_keys(
    conn: sa.Connection, keys: Iterable[str], cache: MutableMapping[str, int]
) -> dict[str, int]:
    """Ids for metric keys, creating missing ones. Ids never change, so the cache is safe; but a
    key created here exists for others only once the transaction commits, so ``cache`` must not
    be shared before then (on PostgreSQL another writer would fail its foreign key check)."""
    missing = [k for k in keys if k not in cache]
    if missing:
        conn.execute(
            dialect_insert(conn, metric_keys).on_conflict_do_nothing(),
            [{"key": k} for k in missing],
        )
        rows = conn.execute(
            sa.select(metric_keys.c.key, metric_keys.c.id).where(metric_keys.c.key.in_(missing))
        )
        cache.update((key, key_id) for key, key_id in rows)
    return {k: cache[k] for k in keys}


def lookup_key_ids(
    conn: sa.Connection, keys: Iterable[str], cache: dict[str, int]
) -> dict[str, int]:
    """Ids of existing metric keys; unknown keys are left out."""
    missing = [k for k in keys if k not in cache]
    if missing:
        rows = conn.execute(
            sa.select(metric_keys.c.key, metric_keys.c.id).where(metric_keys.c.key.in_(missing))
        )
        cache.update((key, key_id) for key, key_id in rows)
    return {k: cache[k] for k in keys if k in cache}


def _summary_rows(run_pk: int, by_id: Mapping[int, MetricColumns]) -> list[tuple[Any, ...]]:
    """The summary rows of a write's series (in ``_SUMMARY_COLUMNS`` order), computed for all
    of them at once: a write often holds many short series (a sweep's trial logs 50 metrics a
    step), where numpy's cost per call, not per point, would dominate. A series' last point is
    its latest (step, timestamp), the first logged among equals; min and max skip NaN."""
    parts = list(by_id.values())
    counts = np.fromiter((len(c) for c in parts), np.int64, len(parts))
    starts = np.zeros(len(parts), np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    steps = np.concatenate([c.steps for c in parts])
    stamps = np.concatenate([c.timestamps for c in parts])
    values = np.concatenate([c.values for c in parts])
    series = np.repeat(np.arange(len(parts)), counts)
    order = np.lexsort((-np.arange(steps.shape[0]), stamps, steps, series))
    last = order[starts + counts - 1]
    last_values = values[last]
    lows, highs = np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)
    columns = zip(
        by_id,
        last_values.tolist(),
        np.isnan(last_values).tolist(),
        steps[last].tolist(),
        stamps[last].tolist(),
        lows.tolist(),
        highs.tolist(),
        counts.tolist(),
        strict=True,
    )
    return [
        (run_pk, key_id, None if nan else value, nan, step, stamp, _number(low), _number(high), n)
        for key_id, value, nan, step, stamp, low, high, n in columns
    ]


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value  # NaN: the series has no value but NaN


# -- the write path in plain SQL ------------------------------------------------------------------
# The statements a metric write runs are written out here rather than built with SQLAlchemy: the
# same text works on SQLite and PostgreSQL (both speak ON CONFLICT, row values and EXCLUDED), and
# building and compiling a multi-row statement costs more than running it.

#: Rows per multi-row INSERT. SQLite runs one in a single step, where ``executemany`` steps once
#: per row, and the driver gives the GIL away around every step: a background writer then waits
#: a switch interval (5 ms) to get it back from a busy training loop, each time.
_ROWS_PER_INSERT: Final = 64

_SUMMARY_COLUMNS: Final = (
    "run_id",
    "key_id",
    "last_value",
    "last_is_nan",
    "last_step",
    "last_timestamp",
    "min_value",
    "max_value",
    '"count"',
)
_CHUNK_COLUMNS: Final = (
    "run_id",
    "key_id",
    "seq",
    "n",
    "min_step",
    "max_step",
    "steps",
    "timestamps",
    '"values"',
)


def _pick(better: str, column: str) -> str:
    """The summary's min or max: the other side when one is NULL, else the better one."""
    old, new = f"metric_summaries.{column}", f"excluded.{column}"
    return (
        f"CASE WHEN {old} IS NULL THEN {new} WHEN {new} IS NULL THEN {old} "
        f"WHEN {new} {better} {old} THEN {new} ELSE {old} END"
    )


def _if_newer(column: str) -> str:
    """A ``last_*`` column: the new point's when it is at a later (step, timestamp) or the same."""
    return (
        "CASE WHEN (excluded.last_step, excluded.last_timestamp) >= "
        "(metric_summaries.last_step, metric_summaries.last_timestamp) "
        f"THEN excluded.{column} ELSE metric_summaries.{column} END"
    )


_SUMMARY_CONFLICT: Final = (
    " ON CONFLICT (run_id, key_id) DO UPDATE SET "
    '"count" = metric_summaries."count" + excluded."count", '
    f"min_value = {_pick('<', 'min_value')}, "
    f"max_value = {_pick('>', 'max_value')}, "
    + ", ".join(
        f"{c} = {_if_newer(c)}"
        for c in ("last_value", "last_is_nan", "last_step", "last_timestamp")
    )
)
# A tail chunk comes back with more points; a new chunk meets no row (writers of a series are
# serialised), and the guard makes any other meeting a visible shortfall in the row count.
_CHUNK_CONFLICT: Final = (
    " ON CONFLICT (run_id, key_id, seq) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _CHUNK_COLUMNS[3:])
    + " WHERE metric_chunks.n < excluded.n"
)
_STATEMENTS: dict[tuple[str, str, int], str] = {}


def _marker(conn: sa.Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _insert_many(conn: sa.Connection, table: str, rows: list[tuple[Any, ...]]) -> int:
    """Upsert rows (tuples in column order) into ``metric_summaries`` or ``metric_chunks`` with
    multi-row statements; return how many rows were inserted or updated."""
    columns, conflict = (
        (_SUMMARY_COLUMNS, _SUMMARY_CONFLICT)
        if table == "metric_summaries"
        else (_CHUNK_COLUMNS, _CHUNK_CONFLICT)
    )
    done = 0
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        part = rows[start : start + _ROWS_PER_INSERT]
        cache_key = (conn.dialect.paramstyle, table, len(part))
        sql = _STATEMENTS.get(cache_key)
        if sql is None:
            one = "(" + ", ".join([_marker(conn)] * len(columns)) + ")"
            sql = _STATEMENTS[cache_key] = (
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                + ", ".join([one] * len(part))
                + conflict
            )
        params = tuple(value for row in part for value in row)
        done += conn.exec_driver_sql(sql, params).rowcount
    return done


def _tails(conn: sa.Connection, run_pk: int, key_ids: list[int]) -> dict[int, Any]:
    """The last chunk of each of a run's series: ``key_id -> (key_id, seq, n, steps, timestamps,
    values)``, the arrays only when the chunk has room left (else None). One query for every key,
    each tail found by an index seek (the max of ``seq`` under ``(run_id, key_id)``)."""
    mark = _marker(conn)
    room = f"c.n < {CHUNK_POINTS}"
    sql = (
        f"SELECT c.key_id, c.seq, c.n, CASE WHEN {room} THEN c.steps END, "
        f'CASE WHEN {room} THEN c.timestamps END, CASE WHEN {room} THEN c."values" END '
        "FROM metric_keys k JOIN metric_chunks c ON c.run_id = "
        f"{mark} AND c.key_id = k.id AND c.seq = (SELECT max(i.seq) FROM metric_chunks i "
        f"WHERE i.run_id = {mark} AND i.key_id = k.id) "
        f"WHERE k.id IN ({', '.join([mark] * len(key_ids))})"
    )
    rows = conn.exec_driver_sql(sql, (run_pk, run_pk, *key_ids)).all()
    return {row[0]: row for row in rows}


def _chunk_row(
    run_pk: int, key_id: int, seq: int, steps: Any, stamps: Any, values: Any
) -> tuple[Any, ...]:
    """A ``metric_chunks`` row, in ``_CHUNK_COLUMNS`` order."""
    return (
        run_pk,
        key_id,
        seq,
        int(steps.shape[0]),
        int(steps.min()),
        int(steps.max()),
        steps.astype(_I8, copy=False).tobytes(),
        stamps.astype(_I8, copy=False).tobytes(),
        values.astype(_F8, copy=False).tobytes(),
    )


def _plan_chunks(
    run_pk: int, key_id: int, cols: MetricColumns, tail: Any, rows: list[tuple[Any, ...]]
) -> None:
    """Fill the series' last chunk up to CHUNK_POINTS, then add full chunks, so every chunk but
    the last stays full and a series is always a handful of rows."""
    steps, stamps, values = cols
    seq = 0
    if tail is not None:
        _, tail_seq, tail_n, tail_steps, tail_stamps, tail_values = tail
        seq = tail_seq + 1
        room = CHUNK_POINTS - tail_n
        if room > 0:
            rows.append(
                _chunk_row(
                    run_pk,
                    key_id,
                    tail_seq,
                    np.concatenate([np.frombuffer(tail_steps, _I8), steps[:room]]),
                    np.concatenate([np.frombuffer(tail_stamps, _I8), stamps[:room]]),
                    np.concatenate([np.frombuffer(tail_values, _F8), values[:room]]),
                )
            )
            steps, stamps, values = steps[room:], stamps[room:], values[room:]
    for start in range(0, steps.shape[0], CHUNK_POINTS):
        end = start + CHUNK_POINTS
        rows.append(
            _chunk_row(run_pk, key_id, seq, steps[start:end], stamps[start:end], values[start:end])
        )
        seq += 1


def write_series(
    conn: sa.Connection,
    run_pk: int,
    series: Mapping[str, MetricColumns],
    key_cache: MutableMapping[str, int],
) -> None:
    """Append series to a run in a handful of statements whatever the number of keys: the
    summaries, the series' last chunks, then every new or grown chunk."""
    nonempty = {k: v for k, v in series.items() if len(v)}
    if not nonempty:
        return
    key_ids = intern_keys(conn, nonempty, key_cache)
    by_id = {key_ids[k]: cols for k, cols in sorted(nonempty.items())}
    # The summary upsert comes first: on PostgreSQL its row locks (taken in key order) serialise
    # concurrent writers of the same series, which makes the read-modify-write of the tail
    # chunk safe.
    _insert_many(conn, "metric_summaries", _summary_rows(run_pk, by_id))
    tails = _tails(conn, run_pk, list(by_id))
    rows: list[tuple[Any, ...]] = []
    for key_id, cols in by_id.items():
        _plan_chunks(run_pk, key_id, cols, tails.get(key_id), rows)
    written = _insert_many(conn, "metric_chunks", rows)
    if written != len(rows):
        raise StoreError(
            f"Metric chunks of run {run_pk} changed under a write ({written} of {len(rows)} "
            "rows written); nothing was stored, retry"
        )


#: The chunks of one series in order, optionally only those reaching into a step window (the
#: chunk's step range is in the row, so the others' blobs are never read). Plain SQL, keyed by
#: the key's name: a history read is often a new client's first statement, and compiling two
#: SQLAlchemy selects cost it more than running them.
_READ_CHUNKS: Final = (
    'SELECT c.steps, c."values"{stamps} FROM metric_chunks c '
    "JOIN metric_keys k ON k.id = c.key_id "
    "WHERE c.run_id = {mark} AND k.key = {mark}{window} ORDER BY c.seq"
)
#: How many points those chunks hold: read from the rows, not their blobs.
_COUNT_POINTS: Final = (
    "SELECT sum(c.n) FROM metric_chunks c JOIN metric_keys k ON k.id = c.key_id "
    "WHERE c.run_id = {mark} AND k.key = {mark}{window}"
)


def read_series(
    conn: sa.Connection,
    run_pk: int,
    key: str,
    start: int | None = None,
    end: int | None = None,
    *,
    timestamps: bool = True,
) -> MetricColumns:
    """A run's series of ``key`` with ``start <= step <= end``, sorted by (step, timestamp)
    with exact duplicates dropped (empty when the run has no such metric).

    With ``timestamps=False`` the timestamps column is zeros unless the points need their
    timestamps to be ordered (steps not strictly increasing): it is then read after all.
    """
    mark = _marker(conn)
    window, params = "", [run_pk, key]
    if start is not None:
        window += f" AND c.max_step >= {mark}"
        params.append(start)
    if end is not None:
        window += f" AND c.min_step <= {mark}"
        params.append(end)
    total = conn.exec_driver_sql(
        _COUNT_POINTS.format(mark=mark, window=window), tuple(params)
    ).scalar()
    if not total:
        return empty_columns()
    sql = _READ_CHUNKS.format(
        stamps=", c.timestamps" if timestamps else "", mark=mark, window=window
    )
    blobs = _unpack(conn.exec_driver_sql(sql, tuple(params)), int(total), 3 if timestamps else 2)
    steps, values = blobs[0], blobs[1]
    if _strictly_increasing(steps):
        # Nothing to sort and no two points alike: the timestamps are not needed for that. A
        # read-only view of one zero stands in for them (a real column of zeros is a 1 MB
        # allocation to fill per 128k points).
        stamps = blobs[2] if timestamps else np.broadcast_to(np.int64(0), steps.shape)
        cols = MetricColumns(steps, stamps, values)
    elif not timestamps:
        return read_series(conn, run_pk, key, start, end)
    else:
        cols = _sorted_unique(steps, blobs[2], values)
    return _window(cols, start, end)


def _strictly_increasing(steps: npt.NDArray[np.int64]) -> bool:
    return bool((steps[1:] > steps[:-1]).all())


def _window(cols: MetricColumns, start: int | None, end: int | None) -> MetricColumns:
    if start is None and end is None:
        return cols
    lo = 0 if start is None else int(np.searchsorted(cols.steps, start, side="left"))
    hi = len(cols) if end is None else int(np.searchsorted(cols.steps, end, side="right"))
    return MetricColumns(cols.steps[lo:hi], cols.timestamps[lo:hi], cols.values[lo:hi])


def _unpack(rows: Iterable[Any], total: int, width: int) -> list[npt.NDArray[Any]]:
    """Chunk rows of blobs (steps, values[, timestamps]) as arrays, one copy of each byte.

    The rows are taken one at a time, so the few blobs alive at once reuse the same memory: a
    million points fetched whole is 16 to 24 MB of ``bytes`` that the allocator gives back to
    the kernel when they are freed and takes again (page fault by page fault) on the next read,
    which cost more than the copy. The arrays are numpy's, which asks for huge pages for large
    ones. ``total`` is the points the rows were counted to hold; a series that grew since (on
    PostgreSQL the count and the rows may see different commits) makes the arrays grow.
    """
    # ``<i8``/``<f8`` are native on every platform numpy ships wheels for but big-endian ones,
    # where ``astype`` swaps the bytes.
    out = [np.empty(total, dtype) for dtype in (_I8, _F8, _I8)[:width]]
    views = [a.data.cast("B") for a in out]
    offset = 0
    for row in rows:
        end = offset + len(row[0])
        if end > len(views[0]):
            out = [_grown(a, offset // 8, 2 * end // 8) for a in out]
            views = [a.data.cast("B") for a in out]
        for view, blob in zip(views, row, strict=True):
            view[offset:end] = blob
        offset = end
    return [
        a[: offset // 8].astype(np.int64 if a.dtype.kind == "i" else np.float64, copy=False)
        for a in out
    ]


def _grown(a: npt.NDArray[Any], used: int, size: int) -> npt.NDArray[Any]:
    bigger = np.empty(size, a.dtype)
    bigger[:used] = a[:used]
    return bigger


def empty_columns() -> MetricColumns:
    return MetricColumns(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))


def _sorted_unique(
    steps: npt.NDArray[np.int64], stamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> MetricColumns:
    """Order by (step, timestamp) and drop exact duplicates (a batch stored twice by a retry).

    Series are usually logged in order, so the sort is skipped when a linear check shows it is
    not needed.
    """
    if _strictly_increasing(steps):
        # The usual series, one point per step, logged in order: nothing to sort and no two
        # points alike. One comparison pass instead of the diffs below.
        return MetricColumns(steps, stamps, values)
    d_step = np.diff(steps)
    in_order = bool(np.all((d_step > 0) | ((d_step == 0) & (np.diff(stamps) >= 0))))
    if not in_order:
        order = np.lexsort((values.view(np.int64), stamps, steps))
        steps, stamps, values = steps[order], stamps[order], values[order]
    bits = values.view(np.int64)  # bitwise equality keeps NaN == NaN
    dup = (np.diff(steps) == 0) & (np.diff(stamps) == 0) & (np.diff(bits) == 0)
    if dup.any():
        keep = np.concatenate([[True], ~dup])
        steps, stamps, values = steps[keep], stamps[keep], values[keep]
    return MetricColumns(steps, stamps, values)
