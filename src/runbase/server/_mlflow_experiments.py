"""MLflow's experiment endpoints: create, get, get-by-name, search, delete, restore, update and
set-experiment-tag.

``experiments/search`` filters and orders in Python: the store lists the experiments of a
lifecycle view, and the filter is parsed by :mod:`runbase.store.filters` (never evaluated) and
matched here. A server holds a handful to a few thousand experiments, so this stays cheap.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Final

from runbase import _validation as v
from runbase.entities import Experiment, ViewType
from runbase.errors import InvalidInputError, NotFoundError
from runbase.server._context import ServerContext
from runbase.server._mlflow_json import experiment_json
from runbase.server._wire import (
    Endpoints,
    Fields,
    decode_offset_token,
    encode_offset_token,
    invalid_value,
)
from runbase.store.filters import Comparison, Grammar, OrderKey, parse_filter, parse_order_by

__all__ = ["EXPERIMENT_GRAMMAR", "VIEW_TYPES", "endpoints", "search_experiments_page"]

endpoints = Endpoints()

#: Proto enum order: ACTIVE_ONLY = 1, DELETED_ONLY = 2, ALL = 3.
VIEW_TYPES: Final = (ViewType.ACTIVE_ONLY, ViewType.DELETED_ONLY, ViewType.ALL)
DEFAULT_MAX_RESULTS: Final = 1000

_ATTRIBUTES: Final = {
    name: name for name in ("name", "experiment_id", "creation_time", "last_update_time")
}

#: MLflow's experiment search (``SearchExperimentsUtils``): attributes and ``tags.<key>``.
EXPERIMENT_GRAMMAR: Final = Grammar(
    entities=frozenset(("attribute", "tag")),
    attributes=_ATTRIBUTES,
    numeric=frozenset(("creation_time", "last_update_time")),
    order_entities=frozenset(("attribute",)),
    order_attributes=_ATTRIBUTES,
    list_attributes=frozenset(("experiment_id",)),
    key_value_ops=("=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL"),
)


# -- create, read, update, delete ----------------------------------------------------------------
@endpoints.post("/experiments/create")
def create_experiment(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    name = f.required_string("name")
    experiment_id = ctx.store.create_experiment(
        name, f.string("artifact_location") or None, f.key_values("tags")
    )
    return {"experiment_id": experiment_id}


@endpoints.get("/experiments/get")
def get_experiment(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    experiment = ctx.store.get_experiment(f.required_string("experiment_id"))
    return {"experiment": experiment_json(experiment)}


@endpoints.get("/experiments/get-by-name")
def get_experiment_by_name(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    name = f.required_string("experiment_name")
    experiment = ctx.store.get_experiment_by_name(name)
    if experiment is None:
        raise NotFoundError(f"Could not find experiment with name '{name}'")
    return {"experiment": experiment_json(experiment)}


@endpoints.post("/experiments/delete")
def delete_experiment(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.store.delete_experiment(f.required_string("experiment_id"))
    return {}


@endpoints.post("/experiments/restore")
def restore_experiment(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.store.restore_experiment(f.required_string("experiment_id"))
    return {}


@endpoints.post("/experiments/update")
def update_experiment(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    experiment_id = f.required_string("experiment_id")
    ctx.store.rename_experiment(experiment_id, f.required_string("new_name"))
    return {}


@endpoints.post("/experiments/set-experiment-tag")
def set_experiment_tag(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.store.set_experiment_tag(
        f.required_string("experiment_id"), f.required_string("key"), f.string("value", "") or ""
    )
    return {}


# -- search --------------------------------------------------------------------------------------
@endpoints.get("/experiments/search")
@endpoints.post("/experiments/search")
def search_experiments(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    max_results = f.integer("max_results")
    if max_results is None:
        max_results = DEFAULT_MAX_RESULTS
    if max_results < 1:
        raise InvalidInputError(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            "a positive integer"
        )
    if max_results > v.MAX_RESULTS_LIMIT:
        raise InvalidInputError(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {v.MAX_RESULTS_LIMIT}"
        )
    experiments, token = search_experiments_page(
        ctx,
        view_type=f.enum("view_type", VIEW_TYPES) or ViewType.ACTIVE_ONLY,
        filter_string=f.string("filter"),
        order_by=f.strings("order_by"),
        max_results=max_results,
        page_token=f.string("page_token"),
    )
    out: dict[str, Any] = {"experiments": [experiment_json(e) for e in experiments]}
    if token is not None:
        out["next_page_token"] = token
    return out


def search_experiments_page(
    ctx: ServerContext,
    *,
    view_type: str,
    filter_string: str | None,
    order_by: list[str],
    max_results: int,
    page_token: str | None,
) -> tuple[list[Experiment], str | None]:
    comparisons = parse_filter(filter_string, EXPERIMENT_GRAMMAR)
    order = parse_order_by(order_by, EXPERIMENT_GRAMMAR)
    offset = decode_offset_token(page_token)
    found = [
        e
        for e in ctx.store.search_experiments(view_type)
        if all(_matches(e, c) for c in comparisons)
    ]
    _sort(found, order)
    end = offset + max_results
    return found[offset:end], encode_offset_token(end) if end < len(found) else None


def _attribute(experiment: Experiment, key: str) -> str | int:
    if key == "name":
        return experiment.name
    if key == "experiment_id":
        return experiment.experiment_id
    if key == "creation_time":
        return experiment.creation_time
    if key == "last_update_time":
        return experiment.last_update_time
    raise invalid_value("filter", key)  # the grammar rules this out


def _matches(experiment: Experiment, comparison: Comparison) -> bool:
    ident, op, value = comparison.identifier, comparison.op, comparison.value
    if ident.kind == "tag":
        tag = experiment.tags.get(ident.key)
        if op == "IS NULL":
            return tag is None
        if op == "IS NOT NULL":
            return tag is not None
        return tag is not None and _compare(tag, op, value)
    return _compare(_attribute(experiment, ident.key), op, value)


def _compare(lhs: str | int, op: str, value: float | str | tuple[str, ...] | None) -> bool:
    if op in ("IN", "NOT IN"):
        assert isinstance(value, tuple)
        return (lhs in value) == (op == "IN")
    if op in ("LIKE", "ILIKE"):
        assert isinstance(value, str) and isinstance(lhs, str)
        return _like(value, ignore_case=op == "ILIKE").fullmatch(lhs) is not None
    if isinstance(lhs, int):
        assert isinstance(value, float)
        number = float(lhs)
        return {
            "=": number == value,
            "!=": number != value,
            "<": number < value,
            "<=": number <= value,
            ">": number > value,
            ">=": number >= value,
        }[op]
    return (lhs == value) == (op == "=")


def _like(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """SQL LIKE as a regex: ``%`` is any run of characters, ``_`` any one character."""
    regex = "".join(
        ".*" if char == "%" else "." if char == "_" else re.escape(char) for char in pattern
    )
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _sort(experiments: list[Experiment], order: tuple[OrderKey, ...]) -> None:
    """Sort in place: the given keys, then MLflow's default (creation_time DESC), then
    experiment_id ASC so every page boundary is stable."""
    keys = list(order) or [_order("creation_time", ascending=False)]
    if all(k.identifier.key != "experiment_id" for k in keys):
        keys.append(_order("experiment_id", ascending=True))
    for key in reversed(keys):  # sorts are stable: the last key first
        by = functools.partial(_sort_value, key=key.identifier.key)
        experiments.sort(key=by, reverse=not key.ascending)


def _sort_value(experiment: Experiment, key: str) -> str | int:
    if key == "experiment_id" and experiment.experiment_id.isdigit():
        return int(experiment.experiment_id)
    return _attribute(experiment, key)


def _order(key: str, *, ascending: bool) -> OrderKey:
    return parse_order_by([f"{key} {'ASC' if ascending else 'DESC'}"], EXPERIMENT_GRAMMAR)[0]
