"""Compile logged-model, registered-model and model-version searches into SQL.

The filters are parsed by ``runbase.store.filters`` against the grammars of
``runbase.store.models``; every value reaches the database as a bound parameter.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from runbase.errors import InvalidInputError
from runbase.model_entities import LoggedModelStatus
from runbase.store.filters import Comparison, OrderKey, parse_filter, parse_order_by
from runbase.store.models import (
    LOGGED_MODEL_GRAMMAR,
    MODEL_VERSION_GRAMMAR,
    PROMPT_TAG,
    REGISTERED_MODEL_GRAMMAR,
    LoggedModelOrder,
    logged_model_order_clause,
)
from runbase.store.sql._schema import (
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)
from runbase.store.sql._search import _compare, _decode_token

_LM = logged_models.c
_RM = registered_models.c
_MV = model_versions.c

_LOGGED_MODEL_COLUMNS = {
    "name": _LM.name,
    "model_id": _LM.model_id,
    "model_type": _LM.model_type,
    "status": _LM.status,
    "source_run_id": _LM.source_run_id,
    "creation_timestamp": _LM.creation_time,
    "last_updated_timestamp": _LM.last_updated_time,
}
_REGISTERED_MODEL_COLUMNS = {
    "name": _RM.name,
    "creation_timestamp": _RM.creation_time,
    "last_updated_timestamp": _RM.last_updated_time,
}
_MODEL_VERSION_COLUMNS = {
    "name": _RM.name,
    "run_id": _MV.run_id,
    "source_path": _MV.source,
    "version_number": _MV.version,
    "creation_timestamp": _MV.creation_time,
    "last_updated_timestamp": _MV.last_updated_time,
}
# MLflow's filter spells statuses without the proto prefix ("status = 'READY'"); accept both.
_STATUS_SPELLINGS = {
    "PENDING": LoggedModelStatus.PENDING,
    "READY": LoggedModelStatus.READY,
    "FAILED": LoggedModelStatus.UPLOAD_FAILED,
    "UPLOAD_FAILED": LoggedModelStatus.UPLOAD_FAILED,
}
_DEFAULT_VERSION_ORDER = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")


class Query:
    """A compiled search: a SELECT with its filters and order, and the page it starts at."""

    def __init__(self, stmt: sa.Select[Any], offset: int, fingerprint: str) -> None:
        self.stmt = stmt
        self.offset = offset
        self.fingerprint = fingerprint

    def rows(self, conn: sa.Connection, max_results: int) -> list[Any]:
        """One more row than a page, so the caller knows whether another page follows."""
        return list(conn.execute(self.stmt.limit(max_results + 1).offset(self.offset)).all())

    def next_token(self, max_results: int) -> str:
        payload = json.dumps({"offset": self.offset + max_results, "query": self.fingerprint})
        return base64.urlsafe_b64encode(payload.encode()).decode()


def _start(page_token: str | None, *identity: Any) -> tuple[int, str]:
    fingerprint = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
    return (_decode_token(page_token, fingerprint) if page_token else 0), fingerprint


def _key_value(table: sa.Table, owner: Any, owner_pk: Any, key: str, op: str, value: Any) -> Any:
    """The owner has a ``key`` whose value satisfies the comparison (absent keys never match)."""
    return sa.exists().where(
        owner == owner_pk, table.c.key == key, _compare(table.c.value, op, value)
    )


def _integral(key: str, value: Any) -> Any:
    """A whole number as a 64-bit parameter: clamped, so a huge value compares as it should
    with a 32-bit column instead of overflowing the driver or the database."""
    if not isinstance(value, float) or not value.is_integer():
        raise InvalidInputError(f"Invalid value for numeric attribute '{key}': {value!r}")
    return sa.literal(max(-(2**63), min(int(value), 2**63 - 1)), sa.BigInteger)


def _split_prompt_filter(comparisons: Sequence[Comparison]) -> tuple[list[Comparison], bool]:
    """MLflow's prompt rule: a search returns prompts only when its filter asks for them
    (``tags.`mlflow.prompt.is_prompt` = 'true'``); otherwise the prompt clause is dropped and
    prompts are left out, since plain models do not carry the tag at all."""
    wants_prompts = any(
        c.identifier.kind == "tag"
        and c.identifier.key == PROMPT_TAG
        and isinstance(c.value, str)
        and (
            (c.op == "=" and c.value.lower() == "true")
            or (c.op == "!=" and c.value.lower() == "false")
        )
        for c in comparisons
    )
    if wants_prompts:
        return list(comparisons), True
    kept = [
        c
        for c in comparisons
        if not (c.identifier.kind == "tag" and c.identifier.key == PROMPT_TAG)
    ]
    return kept, False


def _is_prompt(table: sa.Table, owner: Any, owner_pk: Any) -> Any:
    return _key_value(table, owner, owner_pk, PROMPT_TAG, "=", "true")


def _direction(column: Any, ascending: bool) -> Any:
    return (column.asc() if ascending else column.desc()).nulls_last()


def _unique_attributes(order: Sequence[OrderKey], clauses: Sequence[str]) -> set[str]:
    named: set[str] = set()
    for item in order:
        key = item.identifier.key
        if item.identifier.kind == "attribute":
            if key in named:
                raise InvalidInputError(f"`order_by` contains duplicate fields: {list(clauses)}")
            named.add(key)
    return named


# -- logged models -------------------------------------------------------------------------------
def _latest_metric(key: str, conditions: Sequence[Any]) -> Any:
    m = logged_model_metrics.c
    return (
        sa.select(m.value)
        .where(m.logged_model_id == _LM.id, m.key == key, *conditions)
        .order_by(m.step.desc(), m.timestamp.desc(), m.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _on_datasets(datasets: Sequence[tuple[str, str | None]]) -> list[Any]:
    if not datasets:
        return []
    m = logged_model_metrics.c
    return [
        sa.or_(
            *(
                sa.and_(m.dataset_name == name, *([m.dataset_digest == digest] if digest else []))
                for name, digest in datasets
            )
        )
    ]


def _logged_model_clause(c: Comparison, datasets: Sequence[tuple[str, str | None]]) -> Any:
    ident, op, value = c.identifier, c.op, c.value
    if ident.kind == "attribute":
        if ident.key == "status" and isinstance(value, str):
            value = _STATUS_SPELLINGS.get(value.upper(), value)
        elif ident.key == "status" and isinstance(value, tuple):
            value = tuple(_STATUS_SPELLINGS.get(s.upper(), s) for s in value)
        return _compare(_LOGGED_MODEL_COLUMNS[ident.key], op, value)
    if ident.kind == "metric":
        m = logged_model_metrics.c
        return sa.exists().where(
            m.logged_model_id == _LM.id,
            m.key == ident.key,
            _compare(m.value, op, value),
            *_on_datasets(datasets),
        )
    table = logged_model_params if ident.kind == "param" else logged_model_tags
    return _key_value(table, table.c.logged_model_id, _LM.id, ident.key, op, value)


def _logged_model_order(
    order_by: Sequence[str | LoggedModelOrder], datasets: Sequence[tuple[str, str | None]]
) -> list[tuple[OrderKey, list[Any]]]:
    """Each order key with the conditions choosing the metrics a metric key orders by: a
    structured item's own dataset, a plain clause's search ``datasets``."""
    m = logged_model_metrics.c
    keys = []
    for item in order_by:
        if isinstance(item, str):
            keys.append((parse_order_by([item], LOGGED_MODEL_GRAMMAR)[0], _on_datasets(datasets)))
            continue
        clause = logged_model_order_clause(item.field_name, item.ascending)
        key = parse_order_by([clause], LOGGED_MODEL_GRAMMAR)[0]
        if (item.dataset_name or item.dataset_digest) and key.identifier.kind != "metric":
            raise InvalidInputError(
                f"Invalid order by item for {item.field_name!r}: dataset_name and "
                "dataset_digest may only be set for a metric"
            )
        conditions = [m.dataset_name == item.dataset_name] if item.dataset_name else []
        if item.dataset_digest:
            conditions.append(m.dataset_digest == item.dataset_digest)
        keys.append((key, conditions))
    return keys


def logged_model_query(
    experiment_ids: list[int],
    filter_string: str | None,
    order_by: Sequence[str | LoggedModelOrder] | None,
    datasets: Sequence[tuple[str, str | None]],
    page_token: str | None,
) -> Query:
    comparisons = parse_filter(filter_string, LOGGED_MODEL_GRAMMAR)
    order = _logged_model_order(order_by or [], datasets)
    texts = [item if isinstance(item, str) else item.field_name for item in order_by or []]
    named = _unique_attributes([key for key, _ in order], texts)
    offset, fingerprint = _start(
        page_token,
        "logged_models",
        sorted(experiment_ids),
        filter_string or "",
        list(order_by or []),
        [list(d) for d in datasets],
    )
    stmt = sa.select(logged_models).where(_LM.experiment_id.in_(experiment_ids))
    for comparison in comparisons:
        stmt = stmt.where(_logged_model_clause(comparison, datasets))
    if datasets and not any(c.identifier.kind == "metric" for c in comparisons):
        m = logged_model_metrics.c
        stmt = stmt.where(sa.exists().where(m.logged_model_id == _LM.id, *_on_datasets(datasets)))
    clauses = []
    for item, conditions in order:
        ident = item.identifier
        column = (
            _LOGGED_MODEL_COLUMNS[ident.key]
            if ident.kind == "attribute"
            else _latest_metric(ident.key, conditions)
        )
        clauses.append(_direction(column, item.ascending))
    if "creation_timestamp" not in named:
        clauses.append(_LM.creation_time.desc())
    if "model_id" not in named:
        clauses.append(_LM.model_id.asc())
    return Query(stmt.order_by(*clauses), offset, fingerprint)


# -- registered models ---------------------------------------------------------------------------
def registered_model_query(
    filter_string: str | None, order_by: Sequence[str] | None, page_token: str | None
) -> Query:
    comparisons, wants_prompts = _split_prompt_filter(
        parse_filter(filter_string, REGISTERED_MODEL_GRAMMAR)
    )
    order = parse_order_by(order_by, REGISTERED_MODEL_GRAMMAR)
    named = _unique_attributes(order, order_by or [])
    offset, fingerprint = _start(
        page_token, "registered_models", filter_string or "", list(order_by or [])
    )
    tags = registered_model_tags.c
    stmt = sa.select(registered_models)
    for c in comparisons:
        ident = c.identifier
        if ident.kind == "attribute":
            stmt = stmt.where(_compare(_REGISTERED_MODEL_COLUMNS[ident.key], c.op, c.value))
        else:
            stmt = stmt.where(
                _key_value(
                    registered_model_tags,
                    tags.registered_model_id,
                    _RM.id,
                    ident.key,
                    c.op,
                    c.value,
                )
            )
    if not wants_prompts:
        stmt = stmt.where(~_is_prompt(registered_model_tags, tags.registered_model_id, _RM.id))
    clauses = [
        _direction(_REGISTERED_MODEL_COLUMNS[item.identifier.key], item.ascending) for item in order
    ]
    if "name" not in named:
        clauses.append(_RM.name.asc())
    return Query(stmt.order_by(*clauses), offset, fingerprint)


# -- model versions ------------------------------------------------------------------------------
def model_version_query(
    filter_string: str | None, order_by: Sequence[str] | None, page_token: str | None
) -> Query:
    comparisons, wants_prompts = _split_prompt_filter(
        parse_filter(filter_string, MODEL_VERSION_GRAMMAR)
    )
    clauses_text = list(order_by or _DEFAULT_VERSION_ORDER)
    order = parse_order_by(clauses_text, MODEL_VERSION_GRAMMAR)
    named = _unique_attributes(order, clauses_text)
    offset, fingerprint = _start(
        page_token, "model_versions", filter_string or "", list(order_by or [])
    )
    tags = model_version_tags.c
    stmt = sa.select(model_versions, _RM.name).join(
        registered_models, _RM.id == _MV.registered_model_id
    )
    for c in comparisons:
        ident, value = c.identifier, c.value
        if ident.kind == "attribute":
            if ident.key == "version_number":
                value = _integral(ident.key, value)
            stmt = stmt.where(_compare(_MODEL_VERSION_COLUMNS[ident.key], c.op, value))
        else:
            stmt = stmt.where(
                _key_value(
                    model_version_tags, tags.model_version_id, _MV.id, ident.key, c.op, value
                )
            )
    if not wants_prompts:
        rm_tags = registered_model_tags.c
        stmt = stmt.where(
            ~_is_prompt(model_version_tags, tags.model_version_id, _MV.id),
            ~_is_prompt(registered_model_tags, rm_tags.registered_model_id, _RM.id),
        )
    clauses = [
        _direction(_MODEL_VERSION_COLUMNS[item.identifier.key], item.ascending) for item in order
    ]
    if "name" not in named:
        clauses.append(_RM.name.asc())
    if "version_number" not in named:
        clauses.append(_MV.version.desc())
    return Query(stmt.order_by(*clauses), offset, fingerprint)
