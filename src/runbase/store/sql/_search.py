"""Compile a parsed run filter and order_by (``runbase.store.filters``) into one SQL query.

Nothing here evaluates user text: the parser produces typed comparisons, and every value reaches
the database as a bound parameter.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from runbase.errors import InvalidInputError
from runbase.store.filters import Comparison, Identifier, OrderKey, parse_filter, parse_order_by
from runbase.store.sql import _metrics
from runbase.store.sql._schema import (
    datasets,
    metric_summaries,
    run_inputs,
    run_params,
    run_tags,
    runs,
)

_ATTRIBUTE_COLUMNS = {
    "run_id": runs.c.run_uuid,
    "run_name": runs.c.name,
    "status": runs.c.status,
    "user_id": runs.c.user_id,
    "artifact_uri": runs.c.artifact_uri,
    "lifecycle_stage": runs.c.lifecycle_stage,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}
_SUMMARY_COLUMNS = {
    "last": metric_summaries.c.last_value,
    "min": metric_summaries.c.min_value,
    "max": metric_summaries.c.max_value,
}
_DATASET_COLUMNS = {
    "name": datasets.c.name,
    "digest": datasets.c.digest,
    "context": run_inputs.c.context,
}


def _compare(column: Any, op: str, value: Any) -> Any:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == "LIKE":
        return column.like(value)
    if op == "ILIKE":
        return column.ilike(value)
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    raise InvalidInputError(f"Unsupported comparator {op!r}")  # the parser rules this out


class RunQuery:
    """One search: filters, order, page. ``execute`` returns run rows, one more than a page."""

    def __init__(
        self,
        experiment_ids: list[int],
        comparisons: tuple[Comparison, ...],
        order: tuple[OrderKey, ...],
        lifecycle: Any,
        offset: int,
        fingerprint: str,
    ) -> None:
        self.experiment_ids = experiment_ids
        self.comparisons = comparisons
        self.order = order
        self.lifecycle = lifecycle
        self.offset = offset
        self.fingerprint = fingerprint

    @classmethod
    def build(
        cls,
        experiment_ids: list[int],
        filter_string: str | None,
        view_type: str,
        lifecycle: Any,
        order_by: Sequence[str] | None,
        page_token: str | None,
    ) -> RunQuery:
        comparisons = parse_filter(filter_string)
        order = parse_order_by(order_by)
        fingerprint = hashlib.sha256(
            json.dumps(
                [sorted(experiment_ids), filter_string or "", view_type, list(order_by or [])]
            ).encode()
        ).hexdigest()[:16]
        offset = _decode_token(page_token, fingerprint) if page_token else 0
        return cls(experiment_ids, comparisons, order, lifecycle, offset, fingerprint)

    def next_token(self, max_results: int) -> str:
        payload = json.dumps({"offset": self.offset + max_results, "query": self.fingerprint})
        return base64.urlsafe_b64encode(payload.encode()).decode()

    def execute(
        self, conn: sa.Connection, max_results: int, key_cache: dict[str, int]
    ) -> list[Any]:
        if not self.experiment_ids:
            return []
        metric_keys = {
            item.identifier.key
            for item in (*self.comparisons, *self.order)
            if item.identifier.kind == "metric"
        }
        key_ids = _metrics.lookup_key_ids(conn, metric_keys, key_cache)
        stmt = sa.select(runs).where(runs.c.experiment_id.in_(self.experiment_ids), self.lifecycle)
        for comparison in self.comparisons:
            stmt = stmt.where(_clause(comparison, key_ids))
        stmt = stmt.order_by(*_order_clauses(self.order, key_ids))
        stmt = stmt.limit(max_results + 1).offset(self.offset)
        return list(conn.execute(stmt).all())


def _clause(comparison: Comparison, key_ids: dict[str, int]) -> Any:
    ident, op, value = comparison.identifier, comparison.op, comparison.value
    if ident.kind == "attribute":
        return _compare(_ATTRIBUTE_COLUMNS[ident.key], op, value)
    if ident.kind == "metric":
        key_id = key_ids.get(ident.key)
        if key_id is None:
            return sa.false()  # no run has this metric, so no run can match
        s = metric_summaries.c
        return sa.exists().where(
            s.run_id == runs.c.id,
            s.key_id == key_id,
            _compare(_SUMMARY_COLUMNS[ident.aggregate], op, value),
        )
    if ident.kind in ("param", "tag"):
        table = run_params if ident.kind == "param" else run_tags
        has_key = sa.exists().where(table.c.run_id == runs.c.id, table.c.key == ident.key)
        if op == "IS NULL":
            return ~has_key
        if op == "IS NOT NULL":
            return has_key
        return sa.exists().where(
            table.c.run_id == runs.c.id,
            table.c.key == ident.key,
            _compare(table.c.value, op, value),
        )
    # datasets
    return sa.exists().where(
        run_inputs.c.run_id == runs.c.id,
        datasets.c.id == run_inputs.c.dataset_id,
        _compare(_DATASET_COLUMNS[ident.key], op, value),
    )


def _order_column(ident: Identifier, key_ids: dict[str, int]) -> Any:
    if ident.kind == "attribute":
        return _ATTRIBUTE_COLUMNS[ident.key]
    if ident.kind == "metric":
        key_id = key_ids.get(ident.key)
        if key_id is None:
            return sa.null()
        s = metric_summaries.c
        return (
            sa.select(_SUMMARY_COLUMNS[ident.aggregate])
            .where(s.run_id == runs.c.id, s.key_id == key_id)
            .scalar_subquery()
        )
    table = run_params if ident.kind == "param" else run_tags
    return (
        sa.select(table.c.value)
        .where(table.c.run_id == runs.c.id, table.c.key == ident.key)
        .scalar_subquery()
    )


def _order_clauses(order: tuple[OrderKey, ...], key_ids: dict[str, int]) -> list[Any]:
    clauses = []
    named = set()
    for item in order:
        column = _order_column(item.identifier, key_ids)
        clauses.append((column.asc() if item.ascending else column.desc()).nulls_last())
        if item.identifier.kind == "attribute":
            named.add(item.identifier.key)
    # Ties break on start time, then run id, so every page boundary is deterministic.
    if "start_time" not in named:
        clauses.append(runs.c.start_time.desc())
    if "run_id" not in named:
        clauses.append(runs.c.run_uuid.asc())
    return clauses


def _decode_token(token: str, fingerprint: str) -> int:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = payload["offset"]
        query = payload["query"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInputError(
            f"Invalid page token {token[:40]!r}: it could not be decoded"
        ) from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInputError(f"Invalid page token {token[:40]!r}: bad offset")
    if query != fingerprint:
        raise InvalidInputError(
            "This page token belongs to another search: pass the same experiments, filter, "
            "view type and order_by as the search that returned it"
        )
    return offset
