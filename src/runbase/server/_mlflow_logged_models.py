"""MLflow 3 logged models: create, get, finalize, delete, tags, params, search, and the artifact
listing the UI uses.

A logged model keeps its files at ``<experiment artifact location>/models/<model_id>/artifacts``,
``mlflow-artifacts:/<exp>/models/<m-id>/artifacts`` when the server proxies artifacts, so the
MLflow client uploads and downloads them through the artifact proxy as it does a run's files.
``mlflow.<flavor>.log_model`` creates the model PENDING, links it to the run (``runs/outputs``),
uploads the files and finalizes it READY (or UPLOAD_FAILED).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from runbase.model_entities import LoggedModelStatus
from runbase.server._artifact_proxy import list_under
from runbase.server._context import ServerContext
from runbase.server._mlflow_json import logged_model_json
from runbase.server._wire import Endpoints, Fields, missing_value
from runbase.store.models import LoggedModelOrder

__all__ = ["LOGGED_MODEL_STATUSES", "endpoints"]

endpoints = Endpoints()

#: Proto enum order: LOGGED_MODEL_PENDING = 1, LOGGED_MODEL_READY = 2, UPLOAD_FAILED = 3.
LOGGED_MODEL_STATUSES: Final = (
    LoggedModelStatus.PENDING,
    LoggedModelStatus.READY,
    LoggedModelStatus.UPLOAD_FAILED,
)
DEFAULT_MAX_RESULTS: Final = 100


@endpoints.post("/logged-models")
def create_logged_model(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    model = ctx.models.create_logged_model(
        f.required_string("experiment_id"),
        name=f.string("name") or None,
        source_run_id=f.string("source_run_id") or None,
        model_type=f.string("model_type") or None,
        tags=f.key_values("tags"),
        params=f.key_values("params"),
    )
    return {"model": logged_model_json(model)}


@endpoints.get("/logged-models/{model_id}")
def get_logged_model(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    # ``allow_deleted`` is accepted and moot: a deleted logged model is gone.
    return {"model": logged_model_json(ctx.models.get_logged_model(f.required_string("model_id")))}


@endpoints.patch("/logged-models/{model_id}")
def finalize_logged_model(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    model_id = f.required_string("model_id")
    status = f.enum("status", LOGGED_MODEL_STATUSES)
    if status is None:
        raise missing_value("status")
    return {"model": logged_model_json(ctx.models.finalize_logged_model(model_id, status))}


@endpoints.delete("/logged-models/{model_id}")
def delete_logged_model(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.delete_logged_model(f.required_string("model_id"))
    return {}


@endpoints.patch("/logged-models/{model_id}/tags")
def set_logged_model_tags(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.set_logged_model_tags(f.required_string("model_id"), f.key_values("tags"))
    return {}


@endpoints.delete("/logged-models/{model_id}/tags/{tag_key:path}")
def delete_logged_model_tag(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.delete_logged_model_tag(f.required_string("model_id"), f.required_string("tag_key"))
    return {}


@endpoints.post("/logged-models/{model_id}/params")
def log_logged_model_params(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.log_logged_model_params(f.required_string("model_id"), f.key_values("params"))
    return {}


@endpoints.post("/logged-models/search")
def search_logged_models(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    if not f.has("experiment_ids"):
        raise missing_value("experiment_ids")
    order = [
        LoggedModelOrder(
            field_name=item.required_string("field_name"),
            ascending=item.boolean("ascending") is not False,
            dataset_name=item.string("dataset_name") or None,
            dataset_digest=item.string("dataset_digest") or None,
        )
        for item in f.objects("order_by")
    ]
    datasets = [
        (item.required_string("dataset_name"), item.string("dataset_digest") or None)
        for item in f.objects("datasets")
    ]
    page = ctx.models.search_logged_models(
        f.strings("experiment_ids"),
        f.string("filter") or None,
        order,
        f.integer("max_results") or DEFAULT_MAX_RESULTS,  # 0 is proto's "unset"
        f.string("page_token") or None,
        datasets,
    )
    out: dict[str, Any] = {"models": [logged_model_json(m) for m in page.items]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@endpoints.get("/logged-models/{model_id}/artifacts/directories")
def list_logged_model_artifacts(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    """What the UI lists: paths relative to the model's artifact root."""
    model = ctx.models.get_logged_model(f.required_string("model_id"))
    return list_under(
        ctx,
        model.artifact_location,
        f.string("artifact_directory_path"),
        f"logged model {model.model_id}",
    )
