"""Sweep results over HTTP, mounted at ``/api/v1/sweeps``: what a sweep page draws.

Routes (all GET, JSON; errors as in the native API)::

    /                               sweeps, newest first (?experiment_id=… repeatable)
    /openapi.json                   this API's OpenAPI document
    /{sweep_id}                     the sweep (counts, best trial, agents, spec) and its trials
    /{sweep_id}/trials              the trials table: state, params, value, run id, …
    /{sweep_id}/history             finished trials in number order, with the best so far
    /{sweep_id}/intermediate        reported values per trial, pruned ones marked (?trial=N…)
    /{sweep_id}/importance          parameter importance (?evaluator=ped_anova|fanova|mdi)

A sweep is read by replaying its Optuna journal from the store; the server keeps a reader per
sweep and only reads what was appended since its last request, so polling is cheap. The readers
are a cache: every answer reflects the store at the time of the request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import msgspec
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runbase.errors import InvalidInputError
from runbase.server import _native
from runbase.server._context import ServerContext
from runbase.server._native import Endpoint
from runbase.server._openapi import QueryParam, openapi_document
from runbase.store import Store
from runbase.sweeps import _types as t

if TYPE_CHECKING:
    from runbase.sweeps._results import SweepReader

__all__ = ["ENDPOINTS", "routes"]

#: Sweeps whose readers are kept between requests, per store.
_CACHED: Final = 64


class _Readers:
    """One reader per sweep, the least recently used dropped past ``_CACHED``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_store: dict[int, OrderedDict[str, SweepReader]] = {}

    def get(self, store: Store, sweep_id: str) -> SweepReader:
        from runbase.sweeps._results import SweepReader

        with self._lock:
            cache = self._by_store.setdefault(id(store), OrderedDict())
            reader = cache.get(sweep_id)
            if reader is not None:
                cache.move_to_end(sweep_id)
                return reader
        reader = SweepReader(store, sweep_id)  # outside the lock: it replays the journal
        with self._lock:
            cache[sweep_id] = reader
            while len(cache) > _CACHED:
                cache.popitem(last=False)
        return reader


_readers = _Readers()


def _list(store: Store, _p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    from runbase.errors import NotFoundError
    from runbase.sweeps._results import find_sweep_runs

    out = []
    for run in find_sweep_runs(store, q.getlist("experiment_id") or None):
        try:
            out.append(_readers.get(store, run.info.run_id).info())
        except NotFoundError:
            continue  # a parent run whose sweep was never fully created
    return t.SweepList(out)


def _detail(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    reader = _readers.get(store, p["sweep_id"])
    return t.SweepDetail(reader.info(), reader.trials())


def _trials(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    return t.TrialList(_readers.get(store, p["sweep_id"]).trials())


def _history(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    reader = _readers.get(store, p["sweep_id"])
    return t.HistoryBody(reader.spec.metric.name, reader.spec.metric.goal, reader.history())


def _intermediate(store: Store, p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    reader = _readers.get(store, p["sweep_id"])
    numbers = None
    if "trial" in q:
        try:
            numbers = [int(n) for n in q.getlist("trial")]
        except ValueError:
            raise InvalidInputError("trial must be a trial number") from None
    return t.IntermediateBody(reader.spec.metric.name, reader.intermediate_values(numbers))


def _importance(store: Store, p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    evaluator = q.get("evaluator", "ped_anova")
    reader = _readers.get(store, p["sweep_id"])
    return t.ImportanceBody(evaluator, reader.importance(evaluator))


ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        "GET",
        "/",
        "Sweeps, newest first, with their counts and best trial",
        _list,
        response=t.SweepList,
        query=(QueryParam("experiment_id", "string", "Only these experiments (repeatable)"),),
    ),
    Endpoint(
        "GET",
        "/{sweep_id}",
        "A sweep: settings, trial counts, best trial, agents, and its trials table",
        _detail,
        response=t.SweepDetail,
    ),
    Endpoint(
        "GET",
        "/{sweep_id}/trials",
        "The trials table: state, params, value, run id, agent, times",
        _trials,
        response=t.TrialList,
    ),
    Endpoint(
        "GET",
        "/{sweep_id}/history",
        "Optimisation history: finished trials in number order with the best value so far",
        _history,
        response=t.HistoryBody,
    ),
    Endpoint(
        "GET",
        "/{sweep_id}/intermediate",
        "Values reported at each step, per trial; pruned trials are marked",
        _intermediate,
        response=t.IntermediateBody,
        query=(QueryParam("trial", "integer", "Only these trial numbers (repeatable)"),),
    ),
    Endpoint(
        "GET",
        "/{sweep_id}/importance",
        "Parameter importance over the completed trials (Optuna's evaluators)",
        _importance,
        response=t.ImportanceBody,
        query=(
            QueryParam(
                "evaluator", "string", "ped_anova (default), fanova or mdi (need scikit-learn)"
            ),
        ),
    ),
)


def routes(ctx: ServerContext) -> list[BaseRoute]:
    """The sweep routes, to be mounted at ``/api/v1/sweeps``."""
    document = openapi_document(ENDPOINTS)
    document["servers"] = [{"url": "/api/v1/sweeps"}]
    document["info"]["title"] = "runbase sweeps API"
    encoded = msgspec.json.encode(document)

    async def openapi(_request: Request) -> Response:
        return Response(encoded, media_type="application/json")

    out: list[BaseRoute] = [Route("/openapi.json", openapi, methods=["GET"])]
    out += [Route(e.path, _native._asgi(ctx.store, e), methods=[e.method]) for e in ENDPOINTS]
    return out
