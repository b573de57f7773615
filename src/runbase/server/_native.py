"""runbase's native HTTP API, mounted at ``/api/v1``: the store contract over JSON.

Every route is one :class:`Endpoint` in :data:`ENDPOINTS`; the Starlette routes and the OpenAPI
document (``GET /api/v1/openapi.json``) are both generated from that table, so they cannot drift.
Bodies are msgspec schemas from :mod:`runbase.store._wire`, shared with the HTTP store. Store
calls are synchronous and run in Starlette's thread pool.

Calls other than GET must send ``Content-Type: application/json`` (even without a body), so a
web page on another site cannot make them without a CORS preflight. Ingest (``POST /ingest``)
is the fast path: one request carries many runs' writes, each with a
batch id, metrics as parallel arrays; request bodies may be gzip-compressed
(``Content-Encoding: gzip``). Errors are ``{"error_code", "message"}`` with status 400 (invalid
input), 404 (not found), 409 (already exists) or 500 (store failure).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from runbase.entities import Experiment, RunInfo, ViewType
from runbase.errors import InvalidInputError, RunbaseError
from runbase.server._context import ServerContext
from runbase.server._openapi import QueryParam, openapi_document
from runbase.store import _downsample
from runbase.store import _wire as w
from runbase.store.base import Store

__all__ = ["ENDPOINTS", "Endpoint", "routes"]

_log = logging.getLogger("runbase.server")

#: Largest request body accepted, after gzip decompression.
MAX_BODY_BYTES: Final = 256 * 1024 * 1024


class EmptyBody(msgspec.Struct):
    """``{}``: the answer of calls that return nothing."""


_EMPTY: Final = EmptyBody()

#: ``(store, path parameters, query parameters, decoded body) -> answer``, called in a thread.
Handler = Callable[[Store, Mapping[str, str], QueryParams, Any], Any]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    handler: Handler
    request: type[Any] | None = None
    response: type[Any] = EmptyBody
    query: tuple[QueryParam, ...] = ()


# -- handlers ------------------------------------------------------------------------------------
def _ingest(store: Store, _p: Mapping[str, str], _q: QueryParams, body: w.IngestRequest) -> Any:
    writes = []
    rejected: dict[int, RunbaseError] = {}
    for index, item in enumerate(body.writes):
        try:
            writes.append(w.write_of(item))
        except InvalidInputError as exc:  # a malformed write is refused on its own
            rejected[index] = exc
    # Keep indices of the request: map the store's positions back to them.
    positions = [i for i in range(len(body.writes)) if i not in rejected]
    for pos, error in store.ingest(writes).items():
        rejected[positions[pos]] = error
    return w.IngestResponse(
        [
            w.Rejection(i, body.writes[i].run_id, error.error_code, error.message)
            for i, error in sorted(rejected.items())
        ]
    )


def _list_experiments(store: Store, _p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    return w.ExperimentListBody(store.search_experiments(q.get("view_type", ViewType.ACTIVE_ONLY)))


def _create_experiment(
    store: Store, _p: Mapping[str, str], _q: QueryParams, body: w.CreateExperimentBody
) -> Any:
    return w.ExperimentIdBody(
        store.create_experiment(body.name, body.artifact_location, body.tags or None)
    )


def _experiment_by_name(store: Store, _p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    return w.ExperimentByNameBody(store.get_experiment_by_name(_required(q, "name")))


def _get_experiment(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    return store.get_experiment(p["experiment_id"])


def _rename_experiment(
    store: Store, p: Mapping[str, str], _q: QueryParams, body: w.RenameExperimentBody
) -> Any:
    store.rename_experiment(p["experiment_id"], body.new_name)
    return _EMPTY


def _delete_experiment(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    store.delete_experiment(p["experiment_id"])
    return _EMPTY


def _restore_experiment(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    store.restore_experiment(p["experiment_id"])
    return _EMPTY


def _set_experiment_tag(
    store: Store, p: Mapping[str, str], _q: QueryParams, body: w.TagBody
) -> Any:
    store.set_experiment_tag(p["experiment_id"], body.key, body.value)
    return _EMPTY


def _create_run(store: Store, _p: Mapping[str, str], _q: QueryParams, body: w.CreateRunBody) -> Any:
    run = store.create_run(
        body.experiment_id,
        run_name=body.run_name,
        user_id=body.user_id,
        start_time=body.start_time,
        tags=body.tags,
    )
    return w.run_body(run)


def _search_runs(
    store: Store, _p: Mapping[str, str], _q: QueryParams, body: w.SearchRunsBody
) -> Any:
    page = store.search_runs(
        body.experiment_ids,
        body.filter,
        body.view_type,
        body.max_results,
        body.order_by or None,
        body.page_token,
    )
    return w.page_body(page)


def _get_run(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    return w.run_body(store.get_run(p["run_id"]))


def _update_run(store: Store, p: Mapping[str, str], _q: QueryParams, body: w.UpdateRunBody) -> Any:
    return store.update_run(
        p["run_id"], status=body.status, end_time=body.end_time, run_name=body.run_name
    )


def _delete_run(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    store.delete_run(p["run_id"])
    return _EMPTY


def _restore_run(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    store.restore_run(p["run_id"])
    return _EMPTY


def _deleted_runs(store: Store, _p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    return w.DeletedRunsBody(store.deleted_runs(_int(q, "deleted_before")))


def _purge_run(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    store.purge_run(p["run_id"])
    return _EMPTY


def _delete_tag(store: Store, p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    store.delete_tag(p["run_id"], _required(q, "key"))
    return _EMPTY


def _log_inputs(store: Store, p: Mapping[str, str], _q: QueryParams, body: w.LogInputsBody) -> Any:
    store.log_inputs(p["run_id"], body.inputs)
    return _EMPTY


@dataclass(frozen=True)
class Raw:
    """An answer that is not JSON: the handler's bytes, sent as they are."""

    content: bytes
    media_type: str


def _metric_history(store: Store, p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    buckets = _int(q, "buckets")
    start, end = _int(q, "start"), _int(q, "end")
    if buckets is not None and not 1 <= buckets <= _downsample.MAX_BUCKETS:
        raise InvalidInputError(
            f"buckets must be an integer from 1 to {_downsample.MAX_BUCKETS}: {buckets}"
        )
    _downsample.check_window(start, end)
    run_id, key = p["run_id"], p["key"]
    # Buckets need no timestamps; a window short enough to be sent as points is read again
    # with them (it is at most ``buckets`` points).
    cols = store.get_metric_window(run_id, key, start, end, timestamps=buckets is None)
    if q.get("format") == "binary" and buckets is None:
        return Raw(w.points_bytes(cols), w.SERIES_MEDIA_TYPE)
    body = w.HistoryBody(run_id, key, len(cols))
    if buckets is None or len(cols) <= buckets:
        if buckets is not None:
            cols = store.get_metric_window(run_id, key, start, end)
        body.points = w.points_body(cols)
    else:
        body.buckets = w.buckets_body(_downsample.downsample(cols, buckets))
    return body


def _append_journal(
    store: Store, p: Mapping[str, str], _q: QueryParams, body: w.JournalAppendBody
) -> Any:
    first = store.append_journal(
        p["journal"], body.entries, expected_length=body.expected_length, append_id=body.append_id
    )
    return w.JournalAppendResult(first)


def _read_journal(store: Store, p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    start = _int(q, "start") or 0
    limit = _int(q, "limit")
    if limit is None:
        return w.JournalEntriesBody(store.read_journal(p["journal"], start))
    return w.JournalEntriesBody(store.read_journal(p["journal"], start, limit))


def _acquire_lease(
    store: Store, p: Mapping[str, str], _q: QueryParams, body: w.AcquireLeaseBody
) -> Any:
    return w.LeaseResultBody(store.acquire_lease(p["scope"], p["key"], body.holder, body.ttl))


def _release_lease(store: Store, p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    return w.LeaseResultBody(store.release_lease(p["scope"], p["key"], _required(q, "holder")))


def _list_leases(store: Store, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    return w.LeaseListBody(
        [
            w.LeaseBody(x.key, x.holder, x.acquired_time, x.expires_time, x.expired)
            for x in store.list_leases(p["scope"])
        ]
    )


def _required(q: QueryParams, name: str) -> str:
    value = q.get(name)
    if value is None:
        raise InvalidInputError(f"Missing query parameter {name!r}")
    return value


def _int(q: QueryParams, name: str) -> int | None:
    value = q.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"Query parameter {name!r} must be an integer: {value!r}") from None


_VIEW = QueryParam("view_type", "string", "ACTIVE_ONLY (default), DELETED_ONLY or ALL")

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        "POST",
        "/ingest",
        "Log metrics (columnar), params and tags for many runs; idempotent per batch id",
        _ingest,
        w.IngestRequest,
        w.IngestResponse,
    ),
    Endpoint(
        "GET",
        "/experiments",
        "List experiments",
        _list_experiments,
        response=w.ExperimentListBody,
        query=(_VIEW,),
    ),
    Endpoint(
        "POST",
        "/experiments",
        "Create an experiment",
        _create_experiment,
        w.CreateExperimentBody,
        w.ExperimentIdBody,
    ),
    Endpoint(
        "GET",
        "/experiments/by-name",
        "Find an experiment by name, deleted ones included",
        _experiment_by_name,
        response=w.ExperimentByNameBody,
        query=(QueryParam("name", "string", "Experiment name", required=True),),
    ),
    Endpoint(
        "GET",
        "/experiments/{experiment_id}",
        "Get an experiment",
        _get_experiment,
        response=Experiment,
    ),
    Endpoint(
        "PATCH",
        "/experiments/{experiment_id}",
        "Rename an experiment",
        _rename_experiment,
        w.RenameExperimentBody,
    ),
    Endpoint(
        "DELETE",
        "/experiments/{experiment_id}",
        "Delete an experiment and its runs (restorable)",
        _delete_experiment,
    ),
    Endpoint(
        "POST",
        "/experiments/{experiment_id}/restore",
        "Restore a deleted experiment",
        _restore_experiment,
    ),
    Endpoint(
        "POST",
        "/experiments/{experiment_id}/tags",
        "Set an experiment tag",
        _set_experiment_tag,
        w.TagBody,
    ),
    Endpoint("POST", "/runs", "Create a run", _create_run, w.CreateRunBody, w.RunBody),
    Endpoint(
        "POST",
        "/runs/search",
        "Search runs with MLflow's filter grammar, ordered, one page at a time",
        _search_runs,
        w.SearchRunsBody,
        w.RunPageBody,
    ),
    Endpoint("GET", "/runs/{run_id}", "Get a run", _get_run, response=w.RunBody),
    Endpoint(
        "PATCH",
        "/runs/{run_id}",
        "Update a run's status, end time or name",
        _update_run,
        w.UpdateRunBody,
        RunInfo,
    ),
    Endpoint("DELETE", "/runs/{run_id}", "Delete a run (restorable)", _delete_run),
    Endpoint("POST", "/runs/{run_id}/restore", "Restore a deleted run", _restore_run),
    Endpoint(
        "POST",
        "/runs/{run_id}/purge",
        "Remove a deleted run for good (its artifacts are the caller's to remove first)",
        _purge_run,
    ),
    Endpoint(
        "GET",
        "/deleted-runs",
        "Deleted runs of every experiment, oldest deletion first",
        _deleted_runs,
        response=w.DeletedRunsBody,
        query=(QueryParam("deleted_before", "integer", "Only runs deleted before this time (ms)"),),
    ),
    Endpoint(
        "DELETE",
        "/runs/{run_id}/tags",
        "Delete a run tag",
        _delete_tag,
        query=(QueryParam("key", "string", "Tag key", required=True),),
    ),
    Endpoint(
        "POST",
        "/runs/{run_id}/inputs",
        "Record datasets as run inputs",
        _log_inputs,
        w.LogInputsBody,
    ),
    Endpoint(
        "GET",
        "/runs/{run_id}/metrics/{key:path}",
        "A metric's history: raw points, or per-bucket first/last/min/max for charts",
        _metric_history,
        response=w.HistoryBody,
        query=(
            QueryParam(
                "buckets",
                "integer",
                "Answer with at most this many step buckets when the window has more points",
            ),
            QueryParam("start", "integer", "First step of the window (inclusive)"),
            QueryParam("end", "integer", "Last step of the window (inclusive)"),
            QueryParam(
                "format",
                "string",
                "`binary`: the points (without `buckets`) as application/vnd.runbase.series, "
                "little-endian int64 steps, int64 timestamps, float64 values one after the other",
            ),
        ),
    ),
    Endpoint(
        "POST",
        "/journals/{journal}",
        "Append entries to a journal (gap-free numbering; idempotent per append_id; "
        "compare-and-append with expected_length)",
        _append_journal,
        w.JournalAppendBody,
        w.JournalAppendResult,
    ),
    Endpoint(
        "GET",
        "/journals/{journal}",
        "Read a journal's entries from a position, in order",
        _read_journal,
        response=w.JournalEntriesBody,
        query=(
            QueryParam("start", "integer", "Number of the first entry (default 0)"),
            QueryParam("limit", "integer", "At most this many entries (default and max 10000)"),
        ),
    ),
    Endpoint(
        "GET",
        "/leases/{scope}",
        "Every lease of a scope, with whether it has expired (by the server's clock)",
        _list_leases,
        response=w.LeaseListBody,
    ),
    Endpoint(
        "POST",
        "/leases/{scope}/{key}",
        "Take or renew a lease; ok is false when another holder has it",
        _acquire_lease,
        w.AcquireLeaseBody,
        w.LeaseResultBody,
    ),
    Endpoint(
        "DELETE",
        "/leases/{scope}/{key}",
        "Give a lease up; ok is false when the holder did not hold it",
        _release_lease,
        response=w.LeaseResultBody,
        query=(QueryParam("holder", "string", "Who gives it up", required=True),),
    ),
)


# -- plumbing ------------------------------------------------------------------------------------
def _json(data: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(data), status, media_type="application/json")


def error_response(exc: RunbaseError) -> Response:
    return _json(w.ErrorBody(exc.error_code, exc.message), w.error_status(exc))


def _check_json(request: Request) -> None:
    """Calls that change something must say they send JSON: a web page can send a form or
    text/plain to another site without asking first, but not JSON (CORS preflight)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise InvalidInputError(
            f"Content-Type must be application/json for {request.method}, not {media_type!r}"
        )


def _decompress(data: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, MAX_BODY_BYTES)
    except zlib.error as exc:
        raise InvalidInputError(f"Malformed gzip request body: {exc}") from None
    if inflater.unconsumed_tail:
        raise InvalidInputError(f"Request body exceeds {MAX_BODY_BYTES} bytes")
    return out


async def _read_raw(request: Request) -> bytes:
    """The request body as sent (maybe compressed), refused past MAX_BODY_BYTES as it arrives."""
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise InvalidInputError(f"Request body exceeds {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidInputError("The client went away before sending the whole body") from None
    return b"".join(chunks)


def _decode(data: bytes, encoding: str, schema: type[Any]) -> Any:
    if encoding == "gzip":
        data = _decompress(data)
    elif encoding != "identity":
        raise InvalidInputError(f"Unsupported Content-Encoding {encoding!r}: use gzip")
    try:
        return msgspec.json.decode(data, type=schema)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise InvalidInputError(f"Malformed request body: {exc}") from None


def _call(
    store: Store,
    endpoint: Endpoint,
    raw: bytes,
    encoding: str,
    path: Mapping[str, str],
    query: QueryParams,
) -> bytes | Raw:
    """Decode, handle, encode: all of it in a worker thread, off the event loop (a big ingest
    or history is tens of milliseconds of JSON)."""
    body = None if endpoint.request is None else _decode(raw, encoding, endpoint.request)
    answer = endpoint.handler(store, path, query, body)
    if isinstance(answer, Raw):
        return answer
    return msgspec.json.encode(answer)


def _asgi(store: Store, endpoint: Endpoint) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        try:
            if endpoint.method != "GET":
                _check_json(request)
            raw = b"" if endpoint.request is None else await _read_raw(request)
            encoding = request.headers.get("content-encoding", "identity").strip().lower()
            content = await run_in_threadpool(
                _call, store, endpoint, raw, encoding, request.path_params, request.query_params
            )
            if isinstance(content, Raw):
                return Response(content.content, media_type=content.media_type)
            return Response(content, media_type="application/json")
        except RunbaseError as exc:
            return error_response(exc)
        except Exception:
            _log.exception("%s %s failed", request.method, request.url.path)
            return _json(w.ErrorBody("INTERNAL_ERROR", "Internal server error"), 500)

    handle.__name__ = endpoint.handler.__name__.lstrip("_")
    return handle


def routes(ctx: ServerContext) -> list[BaseRoute]:
    """The routes of the native API, to be mounted at ``/api/v1``."""
    document = msgspec.json.encode(openapi_document(ENDPOINTS))

    async def openapi(_request: Request) -> Response:
        return Response(document, media_type="application/json")

    out: list[BaseRoute] = [Route("/openapi.json", openapi, methods=["GET"])]
    out += [Route(e.path, _asgi(ctx.store, e), methods=[e.method]) for e in ENDPOINTS]
    return out
