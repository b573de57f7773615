"""Metric series in the SQL store: packed chunks, per-key summaries, and reading series back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from runbase.store.base import MetricColumns
from runbase.store.sql._schema import CHUNK_POINTS, metric_chunks, metric_keys, metric_summaries

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


def _summary_row(run_pk: int, key_id: int, cols: MetricColumns) -> dict[str, Any]:
    steps, stamps, values = cols
    top = np.flatnonzero(steps == steps.max())
    last = int(top[np.argmax(stamps[top])])
    last_value = float(values[last])
    finite_or_inf = values[~np.isnan(values)]
    has_values = finite_or_inf.size > 0
    return {
        "run_id": run_pk,
        "key_id": key_id,
        "last_value": None if np.isnan(last_value) else last_value,
        "last_is_nan": bool(np.isnan(last_value)),
        "last_step": int(steps[last]),
        "last_timestamp": int(stamps[last]),
        "min_value": float(finite_or_inf.min()) if has_values else None,
        "max_value": float(finite_or_inf.max()) if has_values else None,
        "count": len(cols),
    }


_SUMMARY_UPSERTS: dict[str, Any] = {}


def _upsert_summaries(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    # Built once per dialect: constructing this statement costs more than running it.
    stmt = _SUMMARY_UPSERTS.get(conn.dialect.name)
    if stmt is None:
        stmt = _SUMMARY_UPSERTS[conn.dialect.name] = _summary_upsert(conn)
    conn.execute(stmt, rows)


def _summary_upsert(conn: sa.Connection) -> Any:
    t = metric_summaries.c
    stmt = dialect_insert(conn, metric_summaries)
    new = stmt.excluded
    newer = sa.tuple_(new.last_step, new.last_timestamp) >= sa.tuple_(t.last_step, t.last_timestamp)

    def pick(old: Any, candidate: Any, better: Any) -> Any:
        return sa.case(
            (old.is_(None), candidate),
            (candidate.is_(None), old),
            (better, candidate),
            else_=old,
        )

    return stmt.on_conflict_do_update(
        index_elements=[t.run_id, t.key_id],
        set_={
            "count": t.count + new["count"],
            "min_value": pick(t.min_value, new.min_value, new.min_value < t.min_value),
            "max_value": pick(t.max_value, new.max_value, new.max_value > t.max_value),
            "last_value": sa.case((newer, new.last_value), else_=t.last_value),
            "last_is_nan": sa.case((newer, new.last_is_nan), else_=t.last_is_nan),
            "last_step": sa.case((newer, new.last_step), else_=t.last_step),
            "last_timestamp": sa.case((newer, new.last_timestamp), else_=t.last_timestamp),
        },
    )


def _chunk_row(
    run_pk: int, key_id: int, seq: int, steps: Any, stamps: Any, values: Any
) -> dict[str, Any]:
    return {
        "run_id": run_pk,
        "key_id": key_id,
        "seq": seq,
        "n": int(steps.shape[0]),
        "min_step": int(steps.min()),
        "max_step": int(steps.max()),
        "steps": steps.astype(_I8, copy=False).tobytes(),
        "timestamps": stamps.astype(_I8, copy=False).tobytes(),
        "values": values.astype(_F8, copy=False).tobytes(),
    }


def _append_chunks(conn: sa.Connection, run_pk: int, key_id: int, cols: MetricColumns) -> None:
    """Fill the series' last chunk up to CHUNK_POINTS, then add full chunks, so every chunk but
    the last stays full and a series is always a handful of rows."""
    c = metric_chunks.c
    tail = conn.execute(
        sa.select(c.seq, c.n, c.steps, c.timestamps, c["values"])
        .where(c.run_id == run_pk, c.key_id == key_id)
        .order_by(c.seq.desc())
        .limit(1)
    ).first()
    steps, stamps, values = cols
    seq = 0
    if tail is not None:
        tail_seq, tail_n, tail_steps, tail_stamps, tail_values = tail
        seq = tail_seq + 1
        room = CHUNK_POINTS - tail_n
        if room > 0:
            head = slice(0, room)
            merged = _chunk_row(
                run_pk,
                key_id,
                tail_seq,
                np.concatenate([np.frombuffer(tail_steps, _I8), steps[head]]),
                np.concatenate([np.frombuffer(tail_stamps, _I8), stamps[head]]),
                np.concatenate([np.frombuffer(tail_values, _F8), values[head]]),
            )
            conn.execute(
                sa.update(metric_chunks).where(
                    c.run_id == run_pk, c.key_id == key_id, c.seq == tail_seq
                ),
                {
                    k: merged[k]
                    for k in ("n", "min_step", "max_step", "steps", "timestamps", "values")
                },
            )
            steps, stamps, values = steps[room:], stamps[room:], values[room:]
    rows = [
        _chunk_row(
            run_pk,
            key_id,
            seq + i,
            steps[start : start + CHUNK_POINTS],
            stamps[start : start + CHUNK_POINTS],
            values[start : start + CHUNK_POINTS],
        )
        for i, start in enumerate(range(0, steps.shape[0], CHUNK_POINTS))
    ]
    if rows:
        conn.execute(sa.insert(metric_chunks), rows)


def write_series(
    conn: sa.Connection,
    run_pk: int,
    series: Mapping[str, MetricColumns],
    key_cache: MutableMapping[str, int],
) -> None:
    nonempty = {k: v for k, v in series.items() if len(v)}
    if not nonempty:
        return
    key_ids = intern_keys(conn, nonempty, key_cache)
    # The summary upsert comes first: on PostgreSQL its row lock serialises concurrent writers of
    # the same series, which makes the read-modify-write of the tail chunk safe.
    _upsert_summaries(
        conn, [_summary_row(run_pk, key_ids[k], cols) for k, cols in sorted(nonempty.items())]
    )
    for key, cols in nonempty.items():
        _append_chunks(conn, run_pk, key_ids[key], cols)


def read_series(conn: sa.Connection, run_pk: int, key_id: int) -> MetricColumns:
    c = metric_chunks.c
    rows = conn.execute(
        sa.select(c.steps, c.timestamps, c["values"])
        .where(c.run_id == run_pk, c.key_id == key_id)
        .order_by(c.seq)
    ).all()
    if not rows:
        return empty_columns()
    steps = np.frombuffer(b"".join(r[0] for r in rows), _I8).astype(np.int64)
    stamps = np.frombuffer(b"".join(r[1] for r in rows), _I8).astype(np.int64)
    values = np.frombuffer(b"".join(r[2] for r in rows), _F8).astype(np.float64)
    return _sorted_unique(steps, stamps, values)


def empty_columns() -> MetricColumns:
    return MetricColumns(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))


def _sorted_unique(
    steps: npt.NDArray[np.int64], stamps: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
) -> MetricColumns:
    """Order by (step, timestamp) and drop exact duplicates (a batch stored twice by a retry).

    Series are usually logged in order, so the sort is skipped when a linear check shows it is
    not needed.
    """
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
