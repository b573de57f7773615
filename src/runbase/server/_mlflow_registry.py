"""MLflow's model registry: registered models with tags and aliases, and their numbered versions
with tags and stages.

The handlers read requests with MLflow's checks and call the
:class:`~runbase.store.models.ModelStore`, which keeps MLflow's rules and messages. Versions go
on the wire as strings. A new version is READY at once (the client would otherwise poll it); its
``source`` is resolved by the store to where the files are (``models:/m-…`` to the logged
model's artifact location), which ``get-download-uri`` answers. As MLflow's server does, a source
with ``..`` segments is refused, and a local path must lie inside the artifacts of the run or
logged model the request names.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote, unquote_plus, urlsplit

from runbase.errors import InvalidInputError, NotFoundError
from runbase.model_entities import ModelVersion, RegisteredModel
from runbase.server._context import ServerContext
from runbase.server._mlflow_json import model_version_json, registered_model_json
from runbase.server._wire import Endpoints, Fields

__all__ = ["endpoints"]

endpoints = Endpoints()

DEFAULT_REGISTERED_MODELS: Final = 100
DEFAULT_MODEL_VERSIONS: Final = 10_000
#: The logged-model tag listing the versions registered from it (``[{"name", "version"}]``).
MODEL_VERSIONS_TAG: Final = "mlflow.modelVersions"
PROMPT_TAG: Final = "mlflow.prompt.is_prompt"


def _version(f: Fields) -> int:
    return f.required_integer("version")


def _model(model: RegisteredModel) -> Mapping[str, Any]:
    return {"registered_model": registered_model_json(model)}


def _model_version(version: ModelVersion) -> Mapping[str, Any]:
    return {"model_version": model_version_json(version)}


# -- registered models ---------------------------------------------------------------------------
@endpoints.post("/registered-models/create")
def create_registered_model(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    model = ctx.models.create_registered_model(
        f.required_string("name"),
        tags=f.key_values("tags"),
        description=f.string("description"),
    )
    return _model(model)


@endpoints.get("/registered-models/get")
def get_registered_model(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    return _model(ctx.models.get_registered_model(f.required_string("name")))


@endpoints.post("/registered-models/rename")
def rename_registered_model(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    name = f.required_string("name")
    return _model(ctx.models.rename_registered_model(name, f.required_string("new_name")))


@endpoints.patch("/registered-models/update")
def update_registered_model(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    name = f.required_string("name")
    return _model(ctx.models.update_registered_model(name, description=f.string("description")))


@endpoints.delete("/registered-models/delete")
def delete_registered_model(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.delete_registered_model(f.required_string("name"))
    return {}


@endpoints.get("/registered-models/search")
def search_registered_models(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    max_results = f.integer("max_results")
    page = ctx.models.search_registered_models(
        f.string("filter") or None,
        DEFAULT_REGISTERED_MODELS if max_results is None else max_results,
        f.strings("order_by"),
        f.string("page_token") or None,
    )
    out: dict[str, Any] = {"registered_models": [registered_model_json(m) for m in page.items]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@endpoints.post("/registered-models/set-tag")
def set_registered_model_tag(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.set_registered_model_tag(
        f.required_string("name"), f.required_string("key"), f.string("value", "") or ""
    )
    return {}


@endpoints.delete("/registered-models/delete-tag")
def delete_registered_model_tag(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.delete_registered_model_tag(f.required_string("name"), f.required_string("key"))
    return {}


@endpoints.post("/registered-models/alias")
def set_registered_model_alias(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.set_registered_model_alias(
        f.required_string("name"), f.required_string("alias"), _version(f)
    )
    return {}


@endpoints.get("/registered-models/alias")
def get_model_version_by_alias(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    name, alias = f.required_string("name"), f.required_string("alias")
    return _model_version(ctx.models.get_model_version_by_alias(name, alias))


@endpoints.delete("/registered-models/alias")
def delete_registered_model_alias(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.delete_registered_model_alias(f.required_string("name"), f.required_string("alias"))
    return {}


@endpoints.get("/registered-models/get-latest-versions")
@endpoints.post("/registered-models/get-latest-versions")
def get_latest_versions(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    versions = ctx.models.get_latest_versions(f.required_string("name"), f.strings("stages"))
    return {"model_versions": [model_version_json(v) for v in versions]}


# -- model versions ------------------------------------------------------------------------------
@endpoints.post("/model-versions/create")
def create_model_version(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    name = f.required_string("name")
    source = f.required_string("source")
    run_id = f.string("run_id") or None
    model_id = f.string("model_id") or None
    tags = f.key_values("tags")
    _check_source(ctx, source, run_id, model_id, is_prompt=tags.get(PROMPT_TAG) == "true")
    version = ctx.models.create_model_version(
        name,
        source,
        run_id=run_id,
        model_id=model_id,
        tags=tags,
        run_link=f.string("run_link"),
        description=f.string("description"),
    )
    _list_on_logged_model(ctx, version)
    return _model_version(version)


@endpoints.get("/model-versions/get")
def get_model_version(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    return _model_version(ctx.models.get_model_version(f.required_string("name"), _version(f)))


@endpoints.patch("/model-versions/update")
def update_model_version(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    name, version = f.required_string("name"), _version(f)
    return _model_version(
        ctx.models.update_model_version(name, version, description=f.string("description"))
    )


@endpoints.post("/model-versions/transition-stage")
def transition_model_version_stage(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    name, version = f.required_string("name"), _version(f)
    updated = ctx.models.transition_model_version_stage(
        name,
        version,
        f.required_string("stage"),
        archive_existing_versions=bool(f.boolean("archive_existing_versions")),
    )
    return _model_version(updated)


@endpoints.delete("/model-versions/delete")
def delete_model_version(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.delete_model_version(f.required_string("name"), _version(f))
    return {}


@endpoints.get("/model-versions/search")
def search_model_versions(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    max_results = f.integer("max_results")
    page = ctx.models.search_model_versions(
        f.string("filter") or None,
        DEFAULT_MODEL_VERSIONS if max_results is None else max_results,
        f.strings("order_by"),
        f.string("page_token") or None,
    )
    out: dict[str, Any] = {"model_versions": [model_version_json(v) for v in page.items]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


@endpoints.post("/model-versions/set-tag")
def set_model_version_tag(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.set_model_version_tag(
        f.required_string("name"),
        _version(f),
        f.required_string("key"),
        f.string("value", "") or "",
    )
    return {}


@endpoints.delete("/model-versions/delete-tag")
def delete_model_version_tag(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    ctx.models.delete_model_version_tag(
        f.required_string("name"), _version(f), f.required_string("key")
    )
    return {}


@endpoints.get("/model-versions/get-download-uri")
def get_model_version_download_uri(ctx: ServerContext, f: Fields) -> Mapping[str, Any]:
    uri = ctx.models.get_model_version_download_uri(f.required_string("name"), _version(f))
    return {"artifact_uri": uri}


# -- sources -------------------------------------------------------------------------------------
def _local_path(uri: str) -> str | None:
    """The path of a ``file:`` URI or a plain path; None for any other URI."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return unquote(parts.path)
    if len(parts.scheme) <= 1:  # none, or a Windows drive letter
        return uri
    return None


def _check_source(
    ctx: ServerContext, source: str, run_id: str | None, model_id: str | None, *, is_prompt: bool
) -> None:
    """MLflow's checks on a new version's source (``server/handlers.py``)."""
    unquoted = source
    while (once := unquote_plus(unquoted)) != unquoted:
        unquoted = once
    if "\x00" in unquoted or ".." in unquoted.split("/"):
        raise InvalidInputError(
            f"Invalid model version source: '{source}'. If supplying a source as an http, "
            "https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path "
            "must be provided without relative path references present. Please provide an "
            "absolute path."
        )
    local = _local_path(source)
    if local is None or is_prompt:  # prompts carry a placeholder source
        return
    roots = []
    if run_id:
        roots.append(ctx.store.get_run(run_id).info.artifact_uri)
    if model_id:
        roots.append(ctx.models.get_logged_model(model_id).artifact_location)
    wanted = posixpath.normpath(local)
    for root in roots:
        root_path = _local_path(root)
        if root_path is not None:
            base = posixpath.normpath(root_path)
            if wanted == base or wanted.startswith(base.rstrip("/") + "/"):
                return
    raise InvalidInputError(
        f"Invalid model version source: '{source}'. To use a local path as a model version "
        "source, the run_id request parameter has to be specified and the local path has to be "
        "contained within the artifact directory of the run specified by the run_id."
    )


def _list_on_logged_model(ctx: ServerContext, version: ModelVersion) -> None:
    """Add the version to its logged model's ``mlflow.modelVersions`` tag, as MLflow's server
    does (the client's ``register_model`` then appends its own entry)."""
    if not version.model_id:
        return
    try:
        model = ctx.models.get_logged_model(version.model_id)
    except NotFoundError:
        return
    try:
        listed = json.loads(model.tags.get(MODEL_VERSIONS_TAG, "[]"))
    except ValueError:
        listed = []
    if not isinstance(listed, list):
        listed = []
    entry = {"name": version.name, "version": version.version}
    if entry not in listed:
        value = json.dumps([*listed, entry])
        ctx.models.set_logged_model_tags(version.model_id, {MODEL_VERSIONS_TAG: value})
