"""MLflow's model registry on a live server: registered models, versions, tags, aliases, stages,
search, download URIs, and error answers.

The registry is global to a server, so each test names its models with ``unique`` and searches
under that prefix."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from server.live import LiveServer, MlflowApi

Unique = Callable[[str], str]
DOCS = " See the API docs for more information about request parameters."
PROMPT_FILTER = "tag.`mlflow.prompt.is_prompt` != 'true'"  # what the MLflow client adds


def _registered(api: MlflowApi, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, **fields}
    return api.ok("POST", "registered-models/create", body)["registered_model"]  # type: ignore[no-any-return]


def _get_model(api: MlflowApi, name: str) -> dict[str, Any]:
    return api.ok("GET", "registered-models/get", {"name": name})["registered_model"]  # type: ignore[no-any-return]


def _version(api: MlflowApi, name: str, source: str, **fields: Any) -> dict[str, Any]:
    body = {"name": name, "source": source, **fields}
    return api.ok("POST", "model-versions/create", body)["model_version"]  # type: ignore[no-any-return]


def _get_version(api: MlflowApi, name: str, version: str) -> dict[str, Any]:
    body = {"name": name, "version": version}
    return api.ok("GET", "model-versions/get", body)["model_version"]  # type: ignore[no-any-return]


def _logged_model(api: MlflowApi, exp: str, run_id: str) -> dict[str, Any]:
    body = {"experiment_id": exp, "name": "model", "source_run_id": run_id}
    return api.ok("POST", "logged-models", body)["model"]["info"]  # type: ignore[no-any-return]


@pytest.fixture
def source(api: MlflowApi, unique: Unique) -> tuple[str, str, dict[str, Any]]:
    """An experiment, a run and a logged model of that run: (experiment, run, model info)."""
    exp = api.experiment(unique("registry"))
    run_id = api.run(exp)
    return exp, run_id, _logged_model(api, exp, run_id)


# -- registered models ---------------------------------------------------------------------------
def test_registered_model_json_and_errors(api: MlflowApi, unique: Unique) -> None:
    name = unique("rm")
    created = _registered(api, name, tags=[{"key": "team", "value": "cv"}], description="d")
    assert created["name"] == name and created["description"] == "d"
    assert created["tags"] == [{"key": "team", "value": "cv"}]
    assert isinstance(created["creation_timestamp"], int)
    assert created["last_updated_timestamp"] == created["creation_timestamp"]
    assert "latest_versions" not in created and "aliases" not in created
    assert _get_model(api, name) == created
    # The client tolerates RESOURCE_ALREADY_EXISTS here (register_model on an existing name).
    response = api.post("registered-models/create", {"name": name})
    assert api.error(response, 400, "RESOURCE_ALREADY_EXISTS") == (
        f"Registered Model (name={name}) already exists."
    )
    response = api.get("registered-models/get", name="no-such-model")
    message = api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == "Registered Model with name=no-such-model not found"
    message = api.error(api.post("registered-models/create", {}), 400, "INVALID_PARAMETER_VALUE")
    assert message == f"Missing value for required parameter 'name'.{DOCS}"
    response = api.post("registered-models/create", {"name": "a/b"})
    assert "cannot contain" in api.error(response, 400, "INVALID_PARAMETER_VALUE")


def test_rename_update_tags_and_delete(api: MlflowApi, unique: Unique) -> None:
    name, new_name = unique("rm"), unique("rm-renamed")
    _registered(api, name)
    renamed = api.ok("POST", "registered-models/rename", {"name": name, "new_name": new_name})
    assert renamed["registered_model"]["name"] == new_name
    api.error(api.get("registered-models/get", name=name), 404, "RESOURCE_DOES_NOT_EXIST")
    body = {"name": new_name, "description": "better"}
    updated = api.ok("PATCH", "registered-models/update", body)["registered_model"]
    assert updated["description"] == "better"
    tag = {"name": new_name, "key": "k", "value": "v"}
    assert api.ok("POST", "registered-models/set-tag", tag) == {}
    assert _get_model(api, new_name)["tags"] == [{"key": "k", "value": "v"}]
    assert api.ok("DELETE", "registered-models/delete-tag", {"name": new_name, "key": "k"}) == {}
    assert "tags" not in _get_model(api, new_name)
    taken = _registered(api, unique("rm"))["name"]
    response = api.post("registered-models/rename", {"name": new_name, "new_name": taken})
    api.error(response, 400, "RESOURCE_ALREADY_EXISTS")
    response = api.post("registered-models/rename", {"name": new_name})
    api.error(response, 400, "INVALID_PARAMETER_VALUE")
    assert api.ok("DELETE", "registered-models/delete", {"name": new_name}) == {}
    api.error(api.get("registered-models/get", name=new_name), 404, "RESOURCE_DOES_NOT_EXIST")
    response = api.send("DELETE", "registered-models/delete", {"name": new_name})
    api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_search_registered_models(api: MlflowApi, unique: Unique) -> None:
    prefix = unique("search-rm")
    for suffix in ("b", "a", "c"):
        _registered(api, f"{prefix}-{suffix}", tags=[{"key": "kind", "value": suffix}])
    _registered(api, f"{prefix}-prompt", tags=[{"key": "mlflow.prompt.is_prompt", "value": "true"}])

    def names(**params: Any) -> tuple[list[str], str | None]:
        page = api.ok("GET", "registered-models/search", params)
        return [m["name"] for m in page["registered_models"]], page.get("next_page_token")

    mine = f"name LIKE '{prefix}%'"
    assert names(filter=f"{PROMPT_FILTER} AND {mine}") == (
        [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"],
        None,
    )
    assert names(filter=f"{mine} AND tags.kind = 'c'") == ([f"{prefix}-c"], None)
    prompts = names(filter=f"{mine} AND tags.`mlflow.prompt.is_prompt` = 'true'")
    assert prompts == ([f"{prefix}-prompt"], None)
    first, token = names(filter=mine, max_results=2, order_by="name DESC")
    assert first == [f"{prefix}-c", f"{prefix}-b"] and token is not None
    rest = names(filter=mine, max_results=2, order_by="name DESC", page_token=token)
    assert rest == ([f"{prefix}-a"], None)
    assert names(filter="name = 'nothing-here'") == ([], None)
    for params, status in (({"max_results": 1001}, 400), ({"filter": "run_id = 'x'"}, 400)):
        response = api.get("registered-models/search", **params)
        api.error(response, status, "INVALID_PARAMETER_VALUE")


# -- model versions ------------------------------------------------------------------------------
def test_version_from_logged_model(
    api: MlflowApi, unique: Unique, source: tuple[str, str, dict[str, Any]]
) -> None:
    _exp, run_id, model = source
    name = unique("mv")
    _registered(api, name)
    src = f"models:/{model['model_id']}"
    version = _version(api, name, src, model_id=model["model_id"], run_id=run_id)
    assert version["version"] == "1" and version["status"] == "READY"
    assert (version["current_stage"], version["description"], version["run_link"]) == (
        "None",
        "",
        "",
    )
    assert (version["source"], version["run_id"], version["model_id"]) == (
        src,
        run_id,
        model["model_id"],
    )
    assert isinstance(version["creation_timestamp"], int)
    assert _get_version(api, name, "1") == version
    # As MLflow's server does, the logged model lists the versions made from it.
    info = api.ok("GET", f"logged-models/{model['model_id']}")["model"]["info"]
    tags = {t["key"]: t["value"] for t in info["tags"]}
    assert json.loads(tags["mlflow.modelVersions"]) == [{"name": name, "version": 1}]
    uri = api.ok("GET", "model-versions/get-download-uri", {"name": name, "version": "1"})
    assert uri == {"artifact_uri": model["artifact_uri"]}
    # The run_id defaults to the logged model's run; versions count up.
    second = _version(api, name, src)
    assert (second["version"], second["run_id"]) == ("2", run_id)
    latest = _get_model(api, name)["latest_versions"]
    assert [v["version"] for v in latest] == ["2"]


def test_version_from_run_source_and_source_checks(
    api: MlflowApi, unique: Unique, source: tuple[str, str, dict[str, Any]]
) -> None:
    exp, run_id, _model = source
    name = unique("mv-run")
    _registered(api, name)
    version = _version(api, name, f"runs:/{run_id}/model", run_id=run_id)
    assert "model_id" not in version
    uri = api.ok("GET", "model-versions/get-download-uri", {"name": name, "version": "1"})
    assert uri == {"artifact_uri": f"mlflow-artifacts:/{exp}/{run_id}/artifacts/model"}
    for bad, words in (
        (f"mlflow-artifacts:/{exp}/../../etc", "relative path"),
        ("s3://bucket/%2E%2E/x", "relative path"),
        ("/etc/passwd", "local path"),
        ("file:///tmp/model", "local path"),
    ):
        response = api.post("model-versions/create", {"name": name, "source": bad})
        assert words in api.error(response, 400, "INVALID_PARAMETER_VALUE"), bad
    response = api.post("model-versions/create", {"name": unique("nope"), "source": "s3://b/m"})
    api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    unknown = {"name": name, "source": "models:/m-" + "0" * 32}
    api.error(api.post("model-versions/create", unknown), 400, "INVALID_PARAMETER_VALUE")
    response = api.post("model-versions/create", {"name": name})
    assert "'source'" in api.error(response, 400, "INVALID_PARAMETER_VALUE")


def test_local_source_inside_the_run(
    server_factory: Callable[..., AbstractContextManager[LiveServer]],
) -> None:
    with (
        server_factory("--no-serve-artifacts") as server,
        httpx.Client(base_url=server.url) as http,
    ):
        api = MlflowApi(http)
        run = api.ok("POST", "runs/create", {"experiment_id": "0"})["run"]["info"]
        root = run["artifact_uri"]
        assert root.startswith("file://")
        _registered(api, "local")
        version = _version(api, "local", f"{root}/model", run_id=run["run_id"])
        uri = api.ok("GET", "model-versions/get-download-uri", {"name": "local", "version": "1"})
        assert uri == {"artifact_uri": version["source"]}
        outside = {"name": "local", "source": "file:///tmp/model", "run_id": run["run_id"]}
        api.error(api.post("model-versions/create", outside), 400, "INVALID_PARAMETER_VALUE")


def test_update_tags_and_delete_version(api: MlflowApi, unique: Unique) -> None:
    name = unique("mv-edit")
    _registered(api, name)
    _version(api, name, "s3://bucket/model", tags=[{"key": "a", "value": "1"}], description="x")
    body = {"name": name, "version": "1", "description": "better"}
    updated = api.ok("PATCH", "model-versions/update", body)["model_version"]
    assert (updated["description"], updated["tags"]) == ("better", [{"key": "a", "value": "1"}])
    tag = {"name": name, "version": "1", "key": "b", "value": "2"}
    assert api.ok("POST", "model-versions/set-tag", tag) == {}
    body = {"name": name, "version": "1", "key": "a"}
    assert api.ok("DELETE", "model-versions/delete-tag", body) == {}
    assert _get_version(api, name, "1")["tags"] == [{"key": "b", "value": "2"}]
    assert api.ok("DELETE", "model-versions/delete", {"name": name, "version": "1"}) == {}
    response = api.get("model-versions/get", name=name, version="1")
    message = api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"Model Version (name={name}, version=1) not found"
    assert _version(api, name, "s3://bucket/model")["version"] == "2"  # numbers are not reused
    for params in ({"name": name, "version": "abc"}, {"name": name}):
        api.error(api.get("model-versions/get", **params), 400, "INVALID_PARAMETER_VALUE")


# -- aliases and stages --------------------------------------------------------------------------
def test_aliases(api: MlflowApi, unique: Unique) -> None:
    name = unique("alias")
    _registered(api, name)
    for _ in range(2):
        _version(api, name, "s3://bucket/model")
    body = {"name": name, "alias": "champion", "version": "1"}
    assert api.ok("POST", "registered-models/alias", body) == {}
    got = api.ok("GET", "registered-models/alias", {"name": name, "alias": "champion"})
    assert got["model_version"]["version"] == "1"
    assert got["model_version"]["aliases"] == ["champion"]
    assert _get_model(api, name)["aliases"] == [{"alias": "champion", "version": "1"}]
    latest = api.ok("GET", "registered-models/alias", {"name": name, "alias": "latest"})
    assert latest["model_version"]["version"] == "2"
    api.ok("POST", "registered-models/alias", {**body, "version": "2"})  # moves the alias
    assert _get_model(api, name)["aliases"] == [{"alias": "champion", "version": "2"}]
    body = {"name": name, "alias": "champion"}
    assert api.ok("DELETE", "registered-models/alias", body) == {}
    assert "aliases" not in _get_model(api, name)
    response = api.get("registered-models/alias", name=name, alias="champion")
    message = api.error(response, 400, "INVALID_PARAMETER_VALUE")
    assert message == "Registered model alias champion not found."
    for alias, version, status, code in (
        ("v1", "1", 400, "INVALID_PARAMETER_VALUE"),
        ("bad alias", "1", 400, "INVALID_PARAMETER_VALUE"),
        ("ok", "9", 404, "RESOURCE_DOES_NOT_EXIST"),
    ):
        response = api.post(
            "registered-models/alias", {"name": name, "alias": alias, "version": version}
        )
        api.error(response, status, code)


def test_stages_and_latest_versions(api: MlflowApi, unique: Unique) -> None:
    name = unique("stage")
    _registered(api, name)
    for _ in range(3):
        _version(api, name, "s3://bucket/model")
    for version in ("1", "2"):
        body = {"name": name, "version": version, "stage": "production"}
        moved = api.ok("POST", "model-versions/transition-stage", body)["model_version"]
        assert moved["current_stage"] == "Production"
    body = {"name": name, "stages": ["Production"]}
    latest = api.ok("POST", "registered-models/get-latest-versions", body)["model_versions"]
    assert [v["version"] for v in latest] == ["2"]
    both = api.ok("GET", "registered-models/get-latest-versions", {"name": name})
    assert [(v["version"], v["current_stage"]) for v in both["model_versions"]] == [
        ("3", "None"),
        ("2", "Production"),
    ]
    body = {
        "name": name,
        "version": "3",
        "stage": "Production",
        "archive_existing_versions": True,
    }
    api.ok("POST", "model-versions/transition-stage", body)
    stages = [_get_version(api, name, v)["current_stage"] for v in ("1", "2", "3")]
    assert stages == ["Archived", "Archived", "Production"]
    bad = {"name": name, "version": "1", "stage": "Shipped"}
    response = api.post("model-versions/transition-stage", bad)
    assert "Invalid Model Version stage" in api.error(response, 400, "INVALID_PARAMETER_VALUE")
    response = api.post("registered-models/get-latest-versions", {"name": unique("nope")})
    api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")


# -- version search ------------------------------------------------------------------------------
def test_search_model_versions(
    api: MlflowApi, unique: Unique, source: tuple[str, str, dict[str, Any]]
) -> None:
    _exp, run_id, model = source
    name, other = unique("search-mv"), unique("search-mv")
    for registered in (name, other):
        _registered(api, registered)
    _version(api, name, f"models:/{model['model_id']}")
    _version(api, name, "s3://bucket/model", tags=[{"key": "k", "value": "v"}])
    _version(api, other, "s3://bucket/model")

    def found(**params: Any) -> tuple[list[tuple[str, str]], str | None]:
        page = api.ok("GET", "model-versions/search", params)
        versions = [(v["name"], v["version"]) for v in page["model_versions"]]
        return versions, page.get("next_page_token")

    assert found(filter=f"name='{name}'") == ([(name, "2"), (name, "1")], None)
    assert found(filter=f"name IN ('{name}', '{other}') AND tags.k = 'v'") == (
        [(name, "2")],
        None,
    )
    assert found(filter=f"run_id = '{run_id}'") == ([(name, "1")], None)
    page, token = found(filter=f"name='{name}'", max_results=1, order_by="version_number ASC")
    assert page == [(name, "1")] and token is not None
    rest = found(
        filter=f"name='{name}'", max_results=1, order_by="version_number ASC", page_token=token
    )
    assert rest == ([(name, "2")], None)
    for params in ({"max_results": 200_001}, {"filter": "metrics.a > 1"}, {"page_token": "x"}):
        api.error(api.get("model-versions/search", **params), 400, "INVALID_PARAMETER_VALUE")


def test_deleting_a_model_drops_its_versions(api: MlflowApi, unique: Unique) -> None:
    name = unique("gone")
    _registered(api, name)
    _version(api, name, "s3://bucket/model")
    api.ok("POST", "registered-models/alias", {"name": name, "alias": "a", "version": "1"})
    api.ok("DELETE", "registered-models/delete", {"name": name})
    api.error(api.get("model-versions/get", name=name, version="1"), 404, "RESOURCE_DOES_NOT_EXIST")
    found = api.ok("GET", "model-versions/search", {"filter": f"name = '{name}'"})
    assert found == {"model_versions": []}
    _registered(api, name)  # the name is free again, and numbering starts over
    assert _version(api, name, "s3://bucket/model")["version"] == "1"
