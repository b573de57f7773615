"""MLflow's run endpoints: runs, params, metrics, tags, batches, inputs, outputs, search and
history.

Handlers read the request with MLflow's checks and messages (``_wire.Fields``), apply the rules
MLflow's server applies before its store (batch limits, duplicate params, the truncation of long
values that ``MLFLOW_TRUNCATE_LONG_VALUES`` turns on by default, server-side run names) and call
the :class:`~runbase.store.Store`. Every write is idempotent for a retried request: exact duplicate
metric points are dropped by the store, a param re-logged with the same value and a tag set
twice are no-ops.

MLflow 3 ties runs to logged models: ``runs/outputs`` and the ``models`` of ``runs/log-inputs``
link them, a metric carrying a ``model_id`` is also recorded on that model (with its dataset),
and run JSON lists the links under ``inputs.model_inputs`` and ``outputs.model_outputs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from runbase import _validation as v
from runbase._names import generate_run_name
from runbase.entities import (
    Dataset,
    DatasetInput,
    Metric,
    Param,
    Run,
    RunStatus,
    RunTag,
    ViewType,
)
from runbase.errors import InvalidInputError
from runbase.model_entities import LoggedModelInput, LoggedModelMetric, LoggedModelOutput
from runbase.server._context import ServerContext
from runbase.server._mlflow_experiments import VIEW_TYPES
from runbase.server._mlflow_json import run_info_json, run_json, series_json
from runbase.server._wire import (
    Endpoints,
    Fields,
    decode_offset_token,
    encode_offset_token,
    invalid_value,
    missing_value,
)

__all__ = ["RUN_STATUSES", "endpoints"]

endpoints = Endpoints()

#: Proto enum order: RUNNING = 1 ... KILLED = 5.
RUN_STATUSES: Final = (
    RunStatus.RUNNING,
    RunStatus.SCHEDULED,
    RunStatus.FINISHED,
    RunStatus.FAILED,
    RunStatus.KILLED,
)
RUN_NAME_TAG: Final = "mlflow.runName"
DEFAULT_EXPERIMENT_ID: Final = "0"
DEFAULT_MAX_RESULTS: Final = 1000

# MLflow's batch limits (mlflow/utils/validation.py).
MAX_METRICS_PER_BATCH: Final = 1000
MAX_PARAMS_TAGS_PER_BATCH: Final = 100
MAX_ENTITIES_PER_BATCH: Final = 1000


# -- runs ----------------------------------------------------------------------------------------
@endpoints.post("/runs/create")
def create_run(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    tags = _tags(f)
    run_name = f.string("run_name") or None
    tag_name = tags.get(RUN_NAME_TAG) or None
    if run_name and tag_name and run_name != tag_name:
        raise InvalidInputError(
            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
            f"different values (run_name='{run_name}', mlflow.runName='{tag_name}')."
        )
    run = ctx.store.create_run(
        f.string("experiment_id") or DEFAULT_EXPERIMENT_ID,
        run_name=run_name or tag_name or generate_run_name(),
        user_id=f.string("user_id") or "",
        start_time=f.integer("start_time"),
        tags=tags,
    )
    return {"run": run_json(run)}


@endpoints.get("/runs/get")
def get_run(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    return {"run": _runs_json(ctx, [ctx.store.get_run(f.run_id())])[0]}


def _runs_json(ctx: ServerContext, runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Runs with their logged-model inputs and outputs, read in one call."""
    model_store = ctx.models_if_kept
    if not runs or model_store is None:
        return [run_json(run) for run in runs]
    models = model_store.get_run_models([run.info.run_id for run in runs])
    return [run_json(run, models[run.info.run_id]) for run in runs]


@endpoints.post("/runs/update")
def update_run(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    info = ctx.store.update_run(
        f.run_id(),
        status=f.enum("status", RUN_STATUSES),
        end_time=f.integer("end_time"),
        run_name=f.string("run_name") or None,
    )
    return {"run_info": run_info_json(info)}


@endpoints.post("/runs/delete")
def delete_run(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.store.delete_run(f.run_id())
    return {}


@endpoints.post("/runs/restore")
def restore_run(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.store.restore_run(f.run_id())
    return {}


# -- params, metrics, tags -----------------------------------------------------------------------
@endpoints.post("/runs/log-metric")
def log_metric(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    run_id = f.run_id()
    item = _metric(f)
    ctx.store.log_batch(run_id, metrics=[item.metric])
    _log_model_metrics(ctx, run_id, [item])
    return {}


@endpoints.post("/runs/log-parameter")
def log_parameter(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    run_id = f.run_id()
    ctx.store.log_batch(run_id, params=[_param(f)])
    return {}


@endpoints.post("/runs/set-tag")
def set_tag(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    run_id = f.run_id()
    ctx.store.log_batch(run_id, tags=[_tag(f)])
    return {}


@endpoints.post("/runs/delete-tag")
def delete_tag(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.store.delete_tag(f.run_id(), f.required_string("key"))
    return {}


@endpoints.post("/runs/log-batch")
def log_batch(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    run_id = f.run_id()
    metric_items, param_items, tag_items = (
        f.objects("metrics"),
        f.objects("params"),
        f.objects("tags"),
    )
    items = [_metric(item) for item in metric_items]
    metrics = [item.metric for item in items]
    params = [_param(item) for item in param_items]
    tags = [_tag(item) for item in tag_items]
    _check_batch_limits(len(metrics), len(params), len(tags))
    keys = [p.key for p in params]
    duplicates = [key for index, key in enumerate(keys) if key in keys[:index]]
    if duplicates:
        raise InvalidInputError(
            f"Duplicate parameter keys have been submitted: {duplicates}. Please ensure "
            "the request contains only one param value per param key."
        )
    ctx.store.log_batch(run_id, metrics, params, tags)
    _log_model_metrics(ctx, run_id, items)
    return {}


class _MetricItem(NamedTuple):
    """A metric of a request, with the logged model and dataset MLflow 3 may name beside it."""

    metric: Metric
    model_id: str | None
    dataset_name: str | None
    dataset_digest: str | None


def _metric(f: Fields) -> _MetricItem:
    metric = Metric(
        key=f.required_string("key"),
        value=f.required_double("value"),
        timestamp=f.required_integer("timestamp"),
        step=f.integer("step") or 0,
    )
    return _MetricItem(
        metric,
        f.string("model_id") or None,
        f.string("dataset_name") or None,
        f.string("dataset_digest") or None,
    )


def _log_model_metrics(ctx: ServerContext, run_id: str, items: Sequence[_MetricItem]) -> None:
    """Record the metrics that name a logged model on that model too, as MLflow does. The run's
    own points are already stored, so a retry after a failure here repeats only what is missing
    (both stores drop exact duplicates)."""
    per_model: dict[str, list[LoggedModelMetric]] = {}
    for item in items:
        if item.model_id is None:
            continue
        m = item.metric
        per_model.setdefault(item.model_id, []).append(
            LoggedModelMetric(
                m.key, m.value, m.timestamp, m.step, run_id, item.dataset_name, item.dataset_digest
            )
        )
    for model_id, metrics in per_model.items():
        ctx.models.log_logged_model_metrics(model_id, metrics)


def _param(f: Fields) -> Param:
    value = f.string("value", "") or ""
    return Param(f.required_string("key"), value[: v.MAX_PARAM_VALUE_LENGTH])


def _tag(f: Fields) -> RunTag:
    value = f.string("value", "") or ""
    return RunTag(f.required_string("key"), value[: v.MAX_TAG_VALUE_LENGTH])


def _tags(f: Fields) -> dict[str, str]:
    return {key: value[: v.MAX_TAG_VALUE_LENGTH] for key, value in f.key_values("tags").items()}


def _check_batch_limits(metrics: int, params: int, tags: int) -> None:
    for name, limit, count in (
        ("metrics", MAX_METRICS_PER_BATCH, metrics),
        ("params", MAX_PARAMS_TAGS_PER_BATCH, params),
        ("tags", MAX_PARAMS_TAGS_PER_BATCH, tags),
        ("metrics, params, and tags", MAX_ENTITIES_PER_BATCH, metrics + params + tags),
    ):
        if count > limit:
            raise InvalidInputError(
                f"A batch logging request can contain at most {limit} {name}. Got {count} "
                f"{name}. Please split up {name} across multiple requests and try again."
            )


# -- inputs and outputs --------------------------------------------------------------------------
@endpoints.post("/runs/log-inputs")
def log_inputs(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    run_id = f.run_id()
    inputs = []
    for item in f.objects("datasets"):
        ds = item.object("dataset")
        dataset = Dataset(
            name=ds.required_string("name"),
            digest=ds.required_string("digest"),
            source_type=ds.required_string("source_type"),
            source=ds.required_string("source"),
            schema=ds.string("schema") or "",
            profile=ds.string("profile") or "",
        )
        inputs.append(DatasetInput(dataset, item.key_values("tags")))
    models = [LoggedModelInput(item.required_string("model_id")) for item in f.objects("models")]
    if inputs:
        ctx.store.log_inputs(run_id, inputs)
    if models:
        ctx.models.log_model_inputs(run_id, models)
    if not inputs and not models:
        ctx.store.get_run(run_id)  # an unknown run is still an error
    return {}


@endpoints.post("/runs/outputs")
def log_outputs(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    run_id = f.run_id()
    if not f.has("models"):
        raise missing_value("models")
    models = [
        LoggedModelOutput(item.required_string("model_id"), item.integer("step") or 0)
        for item in f.objects("models")
    ]
    if models:
        ctx.models.log_outputs(run_id, models)
    else:
        ctx.store.get_run(run_id)  # an unknown run is still an error
    return {}


# -- search and history --------------------------------------------------------------------------
@endpoints.post("/runs/search")
def search_runs(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    max_results = f.integer("max_results")
    if max_results is None:
        max_results = DEFAULT_MAX_RESULTS
    if max_results > v.MAX_RESULTS_LIMIT:
        raise invalid_value("max_results", max_results)
    if max_results < 1:
        raise InvalidInputError(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            "a positive integer"
        )
    page = ctx.store.search_runs(
        f.strings("experiment_ids"),
        f.string("filter"),
        f.enum("run_view_type", VIEW_TYPES) or ViewType.ACTIVE_ONLY,
        max_results,
        f.strings("order_by"),
        f.string("page_token") or None,
    )
    out: dict[str, Any] = {"runs": _runs_json(ctx, page.runs)}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@endpoints.get("/metrics/get-history")
def get_metric_history(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    run_id = f.run_id()
    key = f.required_string("metric_key")
    max_results = f.integer("max_results")
    if max_results is not None and max_results <= 0:
        raise InvalidInputError(
            f"Invalid value {max_results} for parameter 'max_results' supplied. "
            "It must be a positive integer."
        )
    start = decode_offset_token(f.string("page_token"))
    cols = ctx.store.get_metric_columns(run_id, key)
    total = len(cols)
    end = total if max_results is None else min(total, start + max_results)
    out: dict[str, Any] = {
        "metrics": series_json(
            key,
            cols.steps[start:end].tolist(),
            cols.timestamps[start:end].tolist(),
            cols.values[start:end].tolist(),
        )
    }
    if end < total:
        out["next_page_token"] = encode_offset_token(end)
    return out
