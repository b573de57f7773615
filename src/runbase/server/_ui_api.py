"""The web UI's API, mounted at ``/api/v1/ui``: read-only views shaped for the pages.

Everything the UI shows comes sorted, filtered and paged by the store (``search_runs`` with
MLflow's grammar, the summaries kept per metric, the overview queries): nothing here scans all
runs. Routes are generated from :data:`ENDPOINTS`, like the native API, and described at
``GET /api/v1/ui/openapi.json``.

* ``GET  /experiments``               experiments with run counts and last activity
* ``GET  /keys?experiment_id=…``      param, metric and tag keys, for completion and columns
* ``POST /runs``                      a page of the runs table: chosen columns only
* ``POST /runs/get``                  whole runs by id (compare view)
* ``GET  /runs/{run_id}``             a run with its parent, children and models
* ``GET  /runs/{run_id}/images``      images logged by key and step
* ``GET  /runs/{run_id}/artifacts``   one folder of the run's artifacts
* ``GET  /runs/{run_id}/artifact``    one artifact file, inert (see ``_ui_artifacts``)
* ``POST /series``                    many runs' metrics, min/max-bucketed on one step grid
* ``POST /child-counts``              child runs per parent run
* ``GET  /models``                    registered models with their versions and aliases

A filter or order_by that breaks the grammar answers 400 with the parser's ``position`` (an
offset into the text the user typed) and ``detail``, so the UI can point at the mistake.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from runbase.entities import Run, ViewType
from runbase.errors import InvalidInputError, NotFoundError, RunbaseError
from runbase.model_entities import LoggedModel, ModelVersion, RegisteredModel
from runbase.server import _ui_artifacts as art
from runbase.server import _ui_series
from runbase.server._context import ServerContext
from runbase.server._openapi import QueryParam, openapi_document
from runbase.store import _wire as w
from runbase.store.base import PARENT_RUN_TAG, RUN_KEYS_SAMPLE, RunKeys
from runbase.store.filters import FilterSyntaxError, parse_filter, parse_order_by

__all__ = ["ENDPOINTS", "routes"]

_log = logging.getLogger("runbase.server")

MAX_BODY: Final = 4 * 1024 * 1024
MAX_PAGE: Final = 1000
MAX_RUNS_PER_GET: Final = 500
MAX_CHILDREN: Final = 500

Handler = Callable[[ServerContext, Mapping[str, str], QueryParams, Any], Any]


# -- schemas -------------------------------------------------------------------------------------
class _Request(msgspec.Struct, forbid_unknown_fields=True):
    pass


class Column(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A column of the runs table: a param, a tag, or a metric's last, min or max value."""

    kind: Literal["param", "metric", "tag"]
    key: str
    agg: Literal["last", "min", "max"] = "last"


class RunsTableRequest(_Request):
    experiment_ids: list[str]
    filter: str = ""
    order_by: list[str] = msgspec.field(default_factory=list)
    page_token: str | None = None
    max_results: int = 100
    columns: list[Column] = msgspec.field(default_factory=list)
    view_type: str = ViewType.ACTIVE_ONLY
    #: Only runs without a parent, each with its number of children.
    top_level_only: bool = False
    #: Only the children of this run (overrides ``top_level_only``).
    parent_run_id: str | None = None


class DatasetRef(msgspec.Struct):
    name: str
    digest: str
    context: str


Cell = float | str | None


class RunRow(msgspec.Struct):
    run_id: str
    run_name: str
    experiment_id: str
    status: str
    user_id: str
    start_time: int
    end_time: int | None
    parent_run_id: str | None
    parent_run_name: str | None
    child_count: int
    datasets: list[DatasetRef]
    #: One value per requested column, in order; metrics as numbers (or "NaN"/"Infinity").
    values: list[Cell]


class RunsTableBody(msgspec.Struct):
    runs: list[RunRow]
    next_page_token: str | None


class RunsBody(msgspec.Struct):
    runs: list[w.RunBody]


class RunRef(msgspec.Struct):
    run_id: str
    run_name: str
    status: str


class RunDetailBody(msgspec.Struct):
    run: w.RunBody
    parent: RunRef | None
    children: list[RunRef]
    logged_models: list[LoggedModel]
    model_versions: list[ModelVersion]
    #: False when this server's store keeps no models (the two lists are then empty).
    models_available: bool


class ModelView(msgspec.Struct):
    model: RegisteredModel
    versions: list[ModelVersion]


class ModelsBody(msgspec.Struct):
    models: list[ModelView]
    models_available: bool


class FilterErrorBody(msgspec.Struct):
    """A filter or order_by that breaks the grammar: ``position`` is a 0-based offset into
    ``text``, the filter or the one order_by clause at fault (``subject``)."""

    error_code: str
    message: str
    detail: str
    position: int
    subject: str
    text: str


# -- handlers ------------------------------------------------------------------------------------
def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _experiments(ctx: ServerContext, _p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    return w.ExperimentSummariesBody(
        ctx.store.experiment_summaries(q.get("view_type", ViewType.ACTIVE_ONLY))
    )


def _keys(ctx: ServerContext, _p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    max_runs = _int(q, "max_runs")
    return ctx.store.run_keys(
        q.getlist("experiment_id"), RUN_KEYS_SAMPLE if max_runs is None else max_runs
    )


def _child_counts(
    ctx: ServerContext, _p: Mapping[str, str], _q: QueryParams, body: w.RunIdsBody
) -> Any:
    return w.ChildCountsBody(ctx.store.child_counts(body.run_ids))


def _cell(run: Run, column: Column) -> Cell:
    if column.kind == "param":
        return run.data.params.get(column.key)
    if column.kind == "tag":
        return run.data.tags.get(column.key)
    summary = run.data.summaries.get(column.key)
    if summary is None:
        return None
    value = {"last": summary.last, "min": summary.min, "max": summary.max}[column.agg]
    return None if value is None else w.wire_float(value)


def _runs_table(
    ctx: ServerContext, _p: Mapping[str, str], _q: QueryParams, body: RunsTableRequest
) -> Any:
    if not 1 <= body.max_results <= MAX_PAGE:
        raise InvalidInputError(f"max_results must be from 1 to {MAX_PAGE}: {body.max_results}")
    user_filter = body.filter.strip()
    parse_filter(user_filter)  # errors point into what the user typed
    parse_order_by(body.order_by)
    clauses = [user_filter] if user_filter else []
    if body.parent_run_id is not None:
        clauses.append(f"tags.`{PARENT_RUN_TAG}` = {_quote(body.parent_run_id)}")
    elif body.top_level_only:
        clauses.append(f"tags.`{PARENT_RUN_TAG}` IS NULL")
    page = ctx.store.search_runs(
        body.experiment_ids,
        " and ".join(clauses),
        body.view_type,
        body.max_results,
        body.order_by or None,
        body.page_token,
    )
    counts = ctx.store.child_counts([r.info.run_id for r in page.runs]) if page.runs else {}
    parent_names = _run_names(ctx, {r.data.tags.get(PARENT_RUN_TAG) or "" for r in page.runs})
    rows = []
    for run in page.runs:
        info = run.info
        parent = run.data.tags.get(PARENT_RUN_TAG)
        rows.append(
            RunRow(
                run_id=info.run_id,
                run_name=info.run_name,
                experiment_id=info.experiment_id,
                status=info.status,
                user_id=info.user_id,
                start_time=info.start_time,
                end_time=info.end_time,
                parent_run_id=parent,
                parent_run_name=None if parent is None else parent_names.get(parent),
                child_count=counts.get(info.run_id, 0),
                datasets=[
                    DatasetRef(i.dataset.name, i.dataset.digest, i.context or "")
                    for i in run.inputs.dataset_inputs
                ],
                values=[_cell(run, c) for c in body.columns],
            )
        )
    return RunsTableBody(rows, page.next_page_token)


def _run_names(ctx: ServerContext, run_ids: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for run_id in run_ids - {""}:
        try:
            names[run_id] = ctx.store.get_run(run_id).info.run_name
        except (NotFoundError, InvalidInputError):
            continue
    return names


def _runs_by_id(ctx: ServerContext, run_ids: Sequence[str]) -> list[Run]:
    wanted = list(dict.fromkeys(run_ids))
    if len(wanted) > MAX_RUNS_PER_GET:
        raise InvalidInputError(f"At most {MAX_RUNS_PER_GET} runs per request")
    if not wanted:
        return []
    experiments = [e.experiment_id for e in ctx.store.search_experiments(ViewType.ALL)]
    found: dict[str, Run] = {}
    for start in range(0, len(wanted), 100):
        batch = wanted[start : start + 100]
        query = f"attributes.run_id IN ({', '.join(_quote(r) for r in batch)})"
        page = ctx.store.search_runs(experiments, query, ViewType.ALL, len(batch))
        found.update((r.info.run_id, r) for r in page.runs)
    return [found[r] for r in wanted if r in found]


def _runs_get(
    ctx: ServerContext, _p: Mapping[str, str], _q: QueryParams, body: w.RunIdsBody
) -> Any:
    return RunsBody([w.run_body(r) for r in _runs_by_id(ctx, body.run_ids)])


def _run_detail(ctx: ServerContext, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    run = ctx.store.get_run(p["run_id"])
    run_id = run.info.run_id
    parent = None
    parent_id = run.data.tags.get(PARENT_RUN_TAG)
    if parent_id:
        try:
            found = ctx.store.get_run(parent_id).info
            parent = RunRef(found.run_id, found.run_name, found.status)
        except (NotFoundError, InvalidInputError):
            parent = RunRef(parent_id, "", "")
    children = ctx.store.search_runs(
        [run.info.experiment_id],
        f"tags.`{PARENT_RUN_TAG}` = {_quote(run_id)}",
        ViewType.ACTIVE_ONLY,
        MAX_CHILDREN,
        ["attributes.start_time ASC"],
    ).runs
    models = ctx.models_if_kept
    logged: list[LoggedModel] = []
    versions: list[ModelVersion] = []
    if models is not None:
        logged = models.search_logged_models(
            [run.info.experiment_id], f"source_run_id = {_quote(run_id)}", max_results=100
        ).items
        versions = models.search_model_versions(
            f"run_id = {_quote(run_id)}", max_results=1000
        ).items
    return RunDetailBody(
        run=w.run_body(run),
        parent=parent,
        children=[RunRef(c.info.run_id, c.info.run_name, c.info.status) for c in children],
        logged_models=logged,
        model_versions=versions,
        models_available=models is not None,
    )


def _images(ctx: ServerContext, p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    return art.images(ctx, ctx.store.get_run(p["run_id"]).info.artifact_uri)


def _artifacts(ctx: ServerContext, p: Mapping[str, str], q: QueryParams, _b: None) -> Any:
    uri = ctx.store.get_run(p["run_id"]).info.artifact_uri
    return art.list_files(ctx, uri, q.get("path"))


def _series(
    ctx: ServerContext, _p: Mapping[str, str], _q: QueryParams, body: _ui_series.SeriesRequest
) -> Any:
    return _ui_series.series(ctx.store, body)


def _models(ctx: ServerContext, _p: Mapping[str, str], _q: QueryParams, _b: None) -> Any:
    models = ctx.models_if_kept
    if models is None:
        return ModelsBody([], models_available=False)
    registered: list[RegisteredModel] = []
    token = None
    while True:
        page = models.search_registered_models(max_results=1000, page_token=token)
        registered += page.items
        token = page.next_page_token
        if token is None:
            break
    by_name: dict[str, list[ModelVersion]] = {}
    token = None
    while True:
        versions = models.search_model_versions(max_results=10_000, page_token=token)
        for version in versions.items:
            by_name.setdefault(version.name, []).append(version)
        token = versions.next_page_token
        if token is None:
            break
    views = [
        ModelView(m, sorted(by_name.get(m.name, []), key=lambda v: -v.version)) for m in registered
    ]
    return ModelsBody(views, models_available=True)


def _int(q: QueryParams, name: str) -> int | None:
    value = q.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"Query parameter {name!r} must be an integer: {value!r}") from None


# -- the table -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    handler: Handler
    request: type[Any] | None = None
    response: type[Any] = dict
    query: tuple[QueryParam, ...] = ()


_VIEW = QueryParam("view_type", "string", "ACTIVE_ONLY (default), DELETED_ONLY or ALL")

ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        "GET",
        "/experiments",
        "Experiments with their number of active runs and last activity",
        _experiments,
        response=w.ExperimentSummariesBody,
        query=(_VIEW,),
    ),
    Endpoint(
        "GET",
        "/keys",
        "Param, metric and tag keys of the newest runs of some experiments",
        _keys,
        response=RunKeys,
        query=(
            QueryParam("experiment_id", "string", "An experiment id (repeatable)"),
            QueryParam("max_runs", "integer", f"Newest runs looked at (default {RUN_KEYS_SAMPLE})"),
        ),
    ),
    Endpoint(
        "POST",
        "/runs",
        "A page of the runs table: filtered, ordered, with the chosen columns",
        _runs_table,
        RunsTableRequest,
        RunsTableBody,
    ),
    Endpoint("POST", "/runs/get", "Whole runs by id", _runs_get, w.RunIdsBody, RunsBody),
    Endpoint(
        "GET",
        "/runs/{run_id}",
        "A run with its parent, children, logged models and model versions",
        _run_detail,
        response=RunDetailBody,
    ),
    Endpoint(
        "GET",
        "/runs/{run_id}/images",
        "Images logged by key and step",
        _images,
        response=art.ImagesBody,
    ),
    Endpoint(
        "GET",
        "/runs/{run_id}/artifacts",
        "One folder of a run's artifacts",
        _artifacts,
        response=art.ArtifactListBody,
        query=(QueryParam("path", "string", "Folder inside the run's artifacts (default: root)"),),
    ),
    Endpoint(
        "POST",
        "/series",
        "Metric series of many runs, min/max-bucketed on one step grid",
        _series,
        _ui_series.SeriesRequest,
        _ui_series.SeriesBody,
    ),
    Endpoint(
        "POST",
        "/child-counts",
        "Number of child runs of each run",
        _child_counts,
        w.RunIdsBody,
        w.ChildCountsBody,
    ),
    Endpoint(
        "GET",
        "/models",
        "Registered models with versions and aliases",
        _models,
        response=ModelsBody,
    ),
)


# -- plumbing ------------------------------------------------------------------------------------
def _json(data: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(data), status, media_type="application/json")


def _error(exc: RunbaseError) -> Response:
    if isinstance(exc, FilterSyntaxError):
        body = FilterErrorBody(
            exc.error_code, exc.message, exc.detail, exc.position, _subject(exc), exc.text
        )
        return _json(body, 400)
    return _json(w.ErrorBody(exc.error_code, exc.message), w.error_status(exc))


def _subject(exc: FilterSyntaxError) -> str:
    return "order_by" if exc.message.startswith("Invalid order_by") else "filter"


def _call(
    ctx: ServerContext,
    endpoint: Endpoint,
    raw: bytes,
    path: Mapping[str, str],
    query: QueryParams,
) -> bytes:
    body = None
    if endpoint.request is not None:
        try:
            body = msgspec.json.decode(raw, type=endpoint.request)
        except msgspec.DecodeError as exc:
            raise InvalidInputError(f"Malformed request body: {exc}") from None
    return msgspec.json.encode(endpoint.handler(ctx, path, query, body))


def _asgi(ctx: ServerContext, endpoint: Endpoint) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        try:
            raw = b""
            if endpoint.method != "GET":
                media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if media != "application/json":
                    raise InvalidInputError(
                        f"Content-Type must be application/json for {request.method}"
                    )
                raw = await request.body()
                if len(raw) > MAX_BODY:
                    raise InvalidInputError(f"Request body exceeds {MAX_BODY} bytes")
            content = await run_in_threadpool(
                _call, ctx, endpoint, raw, request.path_params, request.query_params
            )
            return Response(content, media_type="application/json")
        except RunbaseError as exc:
            return _error(exc)
        except Exception:
            _log.exception("%s %s failed", request.method, request.url.path)
            return _json(w.ErrorBody("INTERNAL_ERROR", "Internal server error"), 500)

    handle.__name__ = endpoint.handler.__name__.lstrip("_")
    return handle


def _file_route(ctx: ServerContext) -> Callable[[Request], Any]:
    async def artifact_file(request: Request) -> Response:
        try:
            run = await run_in_threadpool(ctx.store.get_run, request.path_params["run_id"])
            served = await run_in_threadpool(
                art.open_file,
                ctx,
                run.info.artifact_uri,
                request.query_params.get("path"),
                download=request.query_params.get("download") in ("1", "true"),
            )
        except RunbaseError as exc:
            return _error(exc)
        except Exception:
            _log.exception("GET %s failed", request.url.path)
            return _json(w.ErrorBody("INTERNAL_ERROR", "Internal server error"), 500)
        return StreamingResponse(
            art.chunks(served.reader), headers=served.headers, media_type=served.media_type
        )

    return artifact_file


def routes(ctx: ServerContext) -> list[BaseRoute]:
    """The UI API's routes, to be mounted at ``/api/v1/ui``."""
    document = msgspec.json.encode(openapi_document(ENDPOINTS))

    async def openapi(_request: Request) -> Response:
        return Response(document, media_type="application/json")

    out: list[BaseRoute] = [
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/runs/{run_id}/artifact", _file_route(ctx), methods=["GET"]),
    ]
    out += [Route(e.path, _asgi(ctx, e), methods=[e.method]) for e in ENDPOINTS]
    return out
