"""The application: plain routes, route errors, unexpected failures, artifact serving off, and
the ``runbase server`` command with several workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from runbase.artifacts import get_artifact_repository
from runbase.errors import StoreError
from runbase.server._context import ServerContext
from runbase.server.app import build_app, create_app
from runbase.store import Store, open_model_store, open_store
from server.live import ARTIFACTS_PREFIX, MLFLOW_PREFIX, LiveServer, MlflowApi


def test_health_version_and_server_info(http: httpx.Client) -> None:
    assert http.get("/health").text == "OK"
    assert http.get("/version").text == "3.17.2"
    for prefix in ("/api", "/ajax-api"):
        info = http.get(f"{prefix}/3.0/mlflow/server-info").json()
        assert info["store_type"] == "SqlStore"
        assert info["artifact_serving_enabled"] is True
        assert info["multipart_uploads_enabled"] is False
        assert info["multipart_downloads_enabled"] is False


def test_ajax_prefix_serves_the_same_api(http: httpx.Client) -> None:
    response = http.get("/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": "0"})
    assert response.json()["experiment"]["name"] == "Default"
    assert http.get("/ajax-api/2.0/mlflow-artifacts/artifacts").status_code == 200


def test_unknown_route_and_wrong_method(http: httpx.Client) -> None:
    for path in ("/nope", f"{MLFLOW_PREFIX}/runs/nope", "/api/2.0/mlflow/"):
        response = http.get(path)
        assert response.status_code == 404
        assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    response = http.get(f"{MLFLOW_PREFIX}/runs/log-batch")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert http.post(f"{MLFLOW_PREFIX}/runs/get", json={}).status_code == 405


def test_posts_need_json(api: MlflowApi, http: httpx.Client) -> None:
    url = f"{MLFLOW_PREFIX}/experiments/create"
    # A web page can post text/plain across origins without a preflight; JSON it cannot.
    response = http.post(url, content=b'{"name": "x"}', headers={"content-type": "text/plain"})
    message = api.error(response, 400, "INVALID_PARAMETER_VALUE")
    assert message == "Bad Request. Content-Type must be one of ['application/json']."
    response = http.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert "Malformed JSON" in api.error(response, 400, "INVALID_PARAMETER_VALUE")
    response = http.post(url, content=b"[]", headers={"content-type": "application/json"})
    assert "JSON object" in api.error(response, 400, "INVALID_PARAMETER_VALUE")


# -- in process ----------------------------------------------------------------------------------
def _call(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'app.db'}", artifact_root="mlflow-artifacts:/")
    yield opened
    opened.close()


def test_unexpected_errors_are_500_json_and_logged(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = build_app(ServerContext(store, get_artifact_repository(str(tmp_path / "artifacts"))))

    def broken(run_id: str) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(store, "get_run", broken)
    with caplog.at_level(logging.ERROR, logger="runbase.server"):
        response = _call(app, "GET", f"{MLFLOW_PREFIX}/runs/get", params={"run_id": "x"})
    assert response.status_code == 500
    assert response.json()["error_code"] == "INTERNAL_ERROR"
    assert "RuntimeError: bug" in caplog.text

    def down(run_id: str) -> None:
        raise StoreError("database is down")

    monkeypatch.setattr(store, "get_run", down)
    response = _call(app, "GET", f"{MLFLOW_PREFIX}/runs/get", params={"run_id": "x"})
    assert (response.status_code, response.json()["message"]) == (500, "database is down")
    # The app carries on.
    assert _call(app, "GET", "/health").text == "OK"


def test_a_store_without_models(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(type(store), "models")
    app = build_app(ServerContext(store, get_artifact_repository(str(tmp_path / "artifacts"))))
    params = {"name": "x"}
    response = _call(app, "GET", f"{MLFLOW_PREFIX}/registered-models/get", params=params)
    assert response.status_code == 501
    assert response.json()["error_code"] == "NOT_IMPLEMENTED"
    # Runs are served all the same, without model links.
    run = _call(app, "POST", f"{MLFLOW_PREFIX}/runs/create", json={}).json()["run"]
    params = {"run_id": run["info"]["run_id"]}
    got = _call(app, "GET", f"{MLFLOW_PREFIX}/runs/get", params=params).json()["run"]
    assert (got["inputs"], got["outputs"]) == ({}, {})


def test_an_explicit_model_store(store: Store, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'app.db'}"
    with contextlib.closing(open_model_store(uri)) as models:
        artifacts = get_artifact_repository(str(tmp_path / "artifacts"))
        app = build_app(ServerContext(store, artifacts, model_store=models))
        body = {"name": "via-explicit-store"}
        response = _call(app, "POST", f"{MLFLOW_PREFIX}/registered-models/create", json=body)
        assert response.status_code == 200
        assert models.get_registered_model("via-explicit-store").name == "via-explicit-store"


def test_without_artifact_serving(tmp_path: Path) -> None:
    destination = tmp_path / "shared-artifacts"
    app = create_app(f"sqlite:///{tmp_path / 'app.db'}", str(destination), serve_artifacts=False)
    info = _call(app, "GET", "/api/3.0/mlflow/server-info").json()
    assert info["artifact_serving_enabled"] is False
    for method, path in (
        ("GET", ARTIFACTS_PREFIX),
        ("GET", f"{ARTIFACTS_PREFIX}/a.txt"),
        ("PUT", f"{ARTIFACTS_PREFIX}/a.txt"),
        ("DELETE", f"{ARTIFACTS_PREFIX}/a.txt"),
    ):
        response = _call(app, method, path)
        assert response.status_code == 503
        assert response.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    # Clients write to the destination themselves, as with `mlflow server --no-serve-artifacts`.
    created = _call(app, "POST", f"{MLFLOW_PREFIX}/experiments/create", json={"name": "e"})
    exp_id = created.json()["experiment_id"]
    exp = _call(app, "GET", f"{MLFLOW_PREFIX}/experiments/get", params={"experiment_id": exp_id})
    assert exp.json()["experiment"]["artifact_location"] == f"{destination.as_uri()}/{exp_id}"


def test_several_workers(
    server_factory: Callable[..., AbstractContextManager[LiveServer]],
) -> None:
    with server_factory("--workers", "2") as server, httpx.Client(base_url=server.url) as http:
        api = MlflowApi(http)
        exp = api.experiment("shared")
        run_id = api.run(exp)
        # New connections land on either worker; each must see what the other wrote.
        for step in range(6):
            with httpx.Client(base_url=server.url) as fresh:
                body = {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": step}
                response = fresh.post(f"{MLFLOW_PREFIX}/runs/log-metric", json=body)
                assert response.status_code == 200, response.text
                got = fresh.get(f"{MLFLOW_PREFIX}/runs/get", params={"run_id": run_id}).json()
                assert got["run"]["data"]["metrics"][0]["step"] == step
        assert "Started parent process" in server.log.read_text()
