"""The params, tags, metric summaries and dataset inputs of a page of runs, in a few set-based
queries.

A page of 100 runs with 100 params and 50 metrics each is 10,000 param rows and 5,000 summary
rows. Fetched as rows, params alone took ~20 ms and building everything ~130 ms; so params and
tags come back as one JSON object per run (built by the database, decoded by ``json.loads`` in
C), and summaries as plain tuples. Summaries stay rows: SQLite writes JSON numbers with 15
significant digits, which would not give back every double exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa

from runbase.entities import Dataset, DatasetInput, MetricSummary
from runbase.store.sql._schema import (
    datasets,
    metric_keys,
    metric_summaries,
    run_inputs,
    run_params,
    run_tags,
)

#: Run ids per query: under SQLite's bound-parameter limit, and short enough to plan quickly.
_BATCH: Final = 500


@dataclass(slots=True)
class RunParts:
    """What a run has besides its ``runs`` row; dicts sorted by key."""

    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    summaries: dict[str, MetricSummary] = field(default_factory=dict)
    inputs: list[DatasetInput] = field(default_factory=list)


def load_parts(conn: sa.Connection, pks: Sequence[int]) -> dict[int, RunParts]:
    """The parts of each run of ``pks`` (run primary keys)."""
    parts = {pk: RunParts() for pk in pks}
    unique = list(parts)
    for start in range(0, len(unique), _BATCH):
        batch = unique[start : start + _BATCH]
        for table, field_name in ((run_params, "params"), (run_tags, "tags")):
            for run_pk, text in conn.execute(_key_values(conn, table, batch)):
                setattr(parts[run_pk], field_name, _sorted(json.loads(text)))
        _load_summaries(conn, batch, parts)
        _load_inputs(conn, batch, parts)
    return parts


def _key_values(conn: sa.Connection, table: sa.Table, batch: list[int]) -> sa.Select[Any]:
    """One row per run of ``batch`` that has any: its run id and a JSON object of its keys."""
    c = table.c
    if conn.dialect.name == "postgresql":
        obj: Any = sa.cast(sa.func.json_object_agg(c.key, c.value), sa.Text)
    else:
        obj = sa.func.json_group_object(c.key, c.value)
    return sa.select(c.run_id, obj).where(c.run_id.in_(batch)).group_by(c.run_id)


def _sorted(items: dict[str, str]) -> dict[str, str]:
    """``items`` sorted by key. SQLite aggregates them in its index's order, which already is, so
    checking is all it costs; PostgreSQL's order depends on the collation."""
    keys = list(items)
    return items if keys == sorted(keys) else dict(sorted(items.items()))


def _load_summaries(conn: sa.Connection, batch: list[int], parts: dict[int, RunParts]) -> None:
    s = metric_summaries.c
    result = conn.execute(
        sa.select(
            s.run_id,
            s.key_id,
            s.last_value,
            s.last_is_nan,
            s.last_step,
            s.last_timestamp,
            s.min_value,
            s.max_value,
            s["count"],
        )
        .where(s.run_id.in_(batch))
        .order_by(s.run_id, s.key_id)  # the primary key's order: no sort on SQLite
    )
    # The driver's tuples, not rows: building 5,000 Row objects took longer than the query.
    # No column needs a result conversion (last_is_nan is only tested for truth).
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    if not rows:
        return
    names = dict(
        conn.execute(
            sa.select(metric_keys.c.id, metric_keys.c.key).where(
                metric_keys.c.id.in_({row[1] for row in rows})
            )
        ).all()
    )
    # Keys are usually interned in name order; then each run's rows already come sorted by name.
    by_id = sorted(names)
    presorted = sorted(by_id, key=names.__getitem__) == by_id
    nan = float("nan")
    current, summaries = -1, parts[rows[0][0]].summaries
    for run_pk, key_id, last, is_nan, step, stamp, low, high, count in rows:
        if run_pk != current:
            if not presorted:
                _sort_by_key(summaries)
            current, summaries = run_pk, parts[run_pk].summaries
        key = names[key_id]
        summaries[key] = MetricSummary(key, nan if is_nan else last, step, stamp, low, high, count)
    if not presorted:
        _sort_by_key(summaries)


def _sort_by_key(summaries: dict[str, MetricSummary]) -> None:
    ordered = sorted(summaries.items())
    summaries.clear()
    summaries.update(ordered)


def _load_inputs(conn: sa.Connection, batch: list[int], parts: dict[int, RunParts]) -> None:
    for r in conn.execute(
        sa.select(run_inputs.c.run_id, run_inputs.c.tags, datasets)
        .join(datasets, datasets.c.id == run_inputs.c.dataset_id)
        .where(run_inputs.c.run_id.in_(batch))
        .order_by(run_inputs.c.run_id, datasets.c.id, run_inputs.c.context)
    ):
        parts[r.run_id].inputs.append(
            DatasetInput(
                Dataset(r.name, r.digest, r.source_type, r.source, r.schema, r.profile),
                json.loads(r.tags),
            )
        )
