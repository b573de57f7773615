"""runbase's native API (``/api/v1``) on a live server: ingest, history buckets, errors, and the
OpenAPI document. The store contract itself runs through it in ``tests/store`` (HttpStore)."""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from starlette.routing import Route

from liveserver import serve_in_thread, store_app
from runbase.errors import StoreError
from runbase.server._native import ENDPOINTS, routes
from runbase.server._openapi import openapi_path
from runbase.store import Store, open_store
from runbase.store._wire import SERIES_MEDIA_TYPE, points_of_bytes

V1 = "/api/v1"


def _post(http: httpx.Client, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    return http.post(V1 + path, json=body, **kwargs)


def _run(http: httpx.Client, unique: Callable[[str], str]) -> str:
    exp = _post(http, "/experiments", {"name": unique("native")}).json()["experiment_id"]
    run = _post(http, "/runs", {"experiment_id": exp, "run_name": "r"}).json()
    return str(run["info"]["run_id"])


def _series(key: str, n: int, start: int = 0) -> dict[str, Any]:
    steps = list(range(start, start + n))
    return {"key": key, "steps": steps, "timestamps": [1000 + s for s in steps], "values": steps}


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"} and body["error_code"] == code
    return str(body["message"])


# -- ingest ------------------------------------------------------------------------------------
def test_ingest_many_runs_and_non_finite_values(
    http: httpx.Client, unique: Callable[[str], str]
) -> None:
    first, second = _run(http, unique), _run(http, unique)
    values = [1.5, "NaN", "Infinity", "-Infinity"]
    writes = [
        {
            "run_id": first,
            "batch_id": unique("b"),
            "metrics": [{**_series("loss", 4), "values": values}, _series("acc", 3)],
            "params": [{"key": "lr", "value": "0.1"}],
            "tags": [{"key": "team", "value": "vision"}],
        },
        {"run_id": second, "batch_id": unique("b"), "metrics": [_series("train/loss", 2)]},
    ]
    response = _post(http, "/ingest", {"writes": writes})
    assert response.status_code == 200 and response.json() == {}
    run = http.get(f"{V1}/runs/{first}").json()
    assert run["data"]["params"] == {"lr": "0.1"} and run["data"]["tags"]["team"] == "vision"
    loss = run["data"]["summaries"]["loss"]
    assert (loss["last"], loss["min"], loss["max"], loss["count"]) == (
        "-Infinity",
        "-Infinity",
        "Infinity",
        4,
    )
    history = http.get(f"{V1}/runs/{first}/metrics/loss").json()
    assert history["points"]["values"] == values and history["total"] == 4
    nested = http.get(f"{V1}/runs/{second}/metrics/train/loss").json()
    assert nested["key"] == "train/loss" and nested["points"]["steps"] == [0, 1]


def test_a_retried_batch_is_stored_once(http: httpx.Client, unique: Callable[[str], str]) -> None:
    run_id = _run(http, unique)
    body = {"writes": [{"run_id": run_id, "batch_id": unique("b"), "metrics": [_series("m", 5)]}]}
    for _ in range(3):
        assert _post(http, "/ingest", body).status_code == 200
    summary = http.get(f"{V1}/runs/{run_id}").json()["data"]["summaries"]["m"]
    assert summary["count"] == 5


def test_ingest_rejects_writes_one_by_one(http: httpx.Client, unique: Callable[[str], str]) -> None:
    run_id = _run(http, unique)
    bad_lengths = {**_series("m", 3), "values": [1.0]}
    writes = [
        {"run_id": run_id, "metrics": [_series("ok", 2)]},
        {"run_id": "0" * 32, "metrics": [_series("m", 1)]},
        {"run_id": run_id, "metrics": [bad_lengths]},
        {"run_id": run_id, "metrics": [_series("bad$key", 1)]},
        {"run_id": run_id, "metrics": [_series("twice", 1), _series("twice", 1)]},
        {"run_id": run_id, "batch_id": "not valid!", "metrics": [_series("m", 1)]},
    ]
    rejected = _post(http, "/ingest", {"writes": writes}).json()["rejected"]
    assert [(r["index"], r["error_code"]) for r in rejected] == [
        (1, "RESOURCE_DOES_NOT_EXIST"),
        (2, "INVALID_PARAMETER_VALUE"),
        (3, "INVALID_PARAMETER_VALUE"),
        (4, "INVALID_PARAMETER_VALUE"),
        (5, "INVALID_PARAMETER_VALUE"),
    ]
    assert "one length" in rejected[1]["message"] and "appears twice" in rejected[3]["message"]
    assert http.get(f"{V1}/runs/{run_id}").json()["data"]["summaries"]["ok"]["count"] == 2


def test_gzip_request_bodies(http: httpx.Client, unique: Callable[[str], str]) -> None:
    run_id = _run(http, unique)
    body = {"writes": [{"run_id": run_id, "metrics": [_series("big", 50_000)]}]}
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    packed = gzip.compress(msgspec.json.encode(body))
    assert http.post(f"{V1}/ingest", content=packed, headers=headers).status_code == 200
    assert http.get(f"{V1}/runs/{run_id}/metrics/big").json()["total"] == 50_000
    response = http.post(f"{V1}/ingest", content=b"not gzip", headers=headers)
    assert "gzip" in _error(response, 400, "INVALID_PARAMETER_VALUE")
    response = http.post(
        f"{V1}/ingest",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Encoding": "br"},
    )
    assert "Content-Encoding" in _error(response, 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Malformed request body"),
        (b'{"writes": [{"run_id": 1}]}', "Expected `str`"),
        (b'{"writes": [], "extra": 1}', "unknown field `extra`"),
        (b'{"writes": [{"run_id": "r", "metrics": [{"key": "m", "steps": [0], '
         b'"timestamps": [0], "values": ["nan"]}]}]}', "Invalid enum value 'nan'"),
    ],
)  # fmt: skip
def test_malformed_requests_are_400(http: httpx.Client, body: bytes, message: str) -> None:
    response = http.post(f"{V1}/ingest", content=body, headers={"Content-Type": "application/json"})
    assert message in _error(response, 400, "INVALID_PARAMETER_VALUE")


def test_writes_need_a_json_content_type(http: httpx.Client) -> None:
    for method, path in (("POST", "/ingest"), ("DELETE", "/runs/x"), ("POST", "/runs/x/restore")):
        response = http.request(method, V1 + path, content=b"{}")
        assert "Content-Type must be application/json" in _error(
            response, 400, "INVALID_PARAMETER_VALUE"
        )


# -- history -----------------------------------------------------------------------------------
def test_history_buckets_keep_peaks(http: httpx.Client, unique: Callable[[str], str]) -> None:
    run_id = _run(http, unique)
    values: list[Any] = [0.0] * 10_000
    values[1234], values[8765], values[5000] = 50.0, -7.0, "NaN"
    series = {**_series("loss", 10_000), "values": values}
    _post(http, "/ingest", {"writes": [{"run_id": run_id, "metrics": [series]}]})
    url = f"{V1}/runs/{run_id}/metrics/loss"
    chart = http.get(url, params={"buckets": 100}).json()
    assert chart["total"] == 10_000 and "points" not in chart
    buckets = chart["buckets"]
    assert len(buckets["count"]) == 100 and sum(buckets["count"]) == 10_000
    assert max(buckets["max"]) == 50.0 and 1234 in buckets["max_step"]
    assert min(buckets["min"]) == -7.0 and 8765 in buckets["min_step"]
    assert buckets["first_step"][0] == 0 and buckets["last_step"][-1] == 9999
    window = http.get(url, params={"buckets": 10, "start": 100, "end": 199}).json()
    assert window["total"] == 100 and window["buckets"]["first_step"][0] == 100
    small = http.get(url, params={"buckets": 1000, "start": 4990, "end": 5009}).json()
    assert small["points"]["steps"] == list(range(4990, 5010))
    # Buckets are drawn without timestamps; points sent instead still carry theirs.
    assert small["points"]["timestamps"] == [1000 + s for s in range(4990, 5010)]
    assert small["points"]["values"][10] == "NaN"


def test_history_in_binary(http: httpx.Client, unique: Callable[[str], str]) -> None:
    run_id = _run(http, unique)
    values: list[Any] = [0.5 * s for s in range(3000)]
    values[7] = "NaN"
    _post(
        http,
        "/ingest",
        {"writes": [{"run_id": run_id, "metrics": [{**_series("x", 3000), "values": values}]}]},
    )
    url = f"{V1}/runs/{run_id}/metrics/x"
    answer = http.get(url, params={"format": "binary", "start": 5, "end": 2004})
    assert answer.headers["content-type"] == SERIES_MEDIA_TYPE
    cols = points_of_bytes(answer.content)
    assert cols.steps.tolist() == list(range(5, 2005))
    assert cols.timestamps.tolist() == [1000 + s for s in range(5, 2005)]
    assert math.isnan(cols.values[2]) and cols.values[3] == 4.0
    # Buckets are JSON whatever the format.
    assert "buckets" in http.get(url, params={"format": "binary", "buckets": 10}).json()


def test_history_errors(http: httpx.Client, unique: Callable[[str], str]) -> None:
    run_id = _run(http, unique)
    url = f"{V1}/runs/{run_id}/metrics/m"
    for params, message in (
        ({"buckets": "x"}, "must be an integer"),
        ({"buckets": 0}, "buckets must be"),
        ({"start": 5, "end": 4}, "window"),
    ):
        assert message in _error(http.get(url, params=params), 400, "INVALID_PARAMETER_VALUE")
    assert http.get(url).json() == {
        "run_id": run_id,
        "key": "m",
        "total": 0,
        "points": {"steps": [], "timestamps": [], "values": []},
    }
    _error(http.get(f"{V1}/runs/{'0' * 32}/metrics/m"), 404, "RESOURCE_DOES_NOT_EXIST")


# -- the rest of the store, and errors ----------------------------------------------------------
def test_experiments_and_runs_round_trip(http: httpx.Client, unique: Callable[[str], str]) -> None:
    name = unique("exp")
    exp_id = _post(http, "/experiments", {"name": name, "tags": {"a": "1"}}).json()["experiment_id"]
    found = http.get(f"{V1}/experiments/by-name", params={"name": name}).json()["experiment"]
    assert (found["experiment_id"], found["tags"]) == (exp_id, {"a": "1"})
    assert http.get(f"{V1}/experiments/by-name", params={"name": unique("no")}).json() == {}
    message = _error(_post(http, "/experiments", {"name": name}), 409, "RESOURCE_ALREADY_EXISTS")
    assert name in message
    _error(http.get(f"{V1}/experiments/987654321"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "decimal" in _error(http.get(f"{V1}/experiments/abc"), 400, "INVALID_PARAMETER_VALUE")
    run = _post(http, "/runs", {"experiment_id": exp_id, "run_name": "first"}).json()
    run_id = run["info"]["run_id"]
    assert run["info"]["artifact_uri"] == f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts"
    info = http.patch(f"{V1}/runs/{run_id}", json={"status": "FINISHED", "end_time": 5}).json()
    assert (info["status"], info["end_time"]) == ("FINISHED", 5)
    page = _post(
        http,
        "/runs/search",
        {"experiment_ids": [exp_id], "filter": "attributes.status = 'FINISHED'"},
    ).json()
    assert [r["info"]["run_id"] for r in page["runs"]] == [run_id]
    headers = {"Content-Type": "application/json"}
    assert http.delete(f"{V1}/runs/{run_id}", headers=headers).json() == {}
    assert http.get(f"{V1}/runs/{run_id}").json()["info"]["lifecycle_stage"] == "deleted"


def test_store_failures_are_500_and_unexpected_ones_hide_details(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def down(_experiment_id: str) -> None:
        raise StoreError("Database error: disk I/O error")

    def bug(_run_id: str) -> None:
        raise ZeroDivisionError("secret detail")

    monkeypatch.setattr(store, "get_experiment", down)
    monkeypatch.setattr(store, "get_run", bug)
    try:
        with serve_in_thread(store_app(store, tmp_path / "artifacts")) as url:
            response = httpx.get(f"{url}{V1}/experiments/0")
            assert _error(response, 500, "INTERNAL_ERROR") == "Database error: disk I/O error"
            response = httpx.get(f"{url}{V1}/runs/abc")
            assert _error(response, 500, "INTERNAL_ERROR") == "Internal server error"
    finally:
        store.close()


# -- OpenAPI -----------------------------------------------------------------------------------
def _served_routes(store: Store) -> list[Route]:
    from runbase.artifacts import LocalArtifactRepository
    from runbase.server._context import ServerContext

    ctx = ServerContext(store, LocalArtifactRepository("/nonexistent"))
    return [r for r in routes(ctx) if isinstance(r, Route)]


def test_openapi_lists_every_route(http: httpx.Client, tmp_path: Path) -> None:
    doc = http.get(f"{V1}/openapi.json").json()
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": V1}]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        served = _served_routes(store)
    finally:
        store.close()
    pairs = {
        (openapi_path(r.path), m.lower()) for r in served for m in (r.methods or ()) if m != "HEAD"
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert pairs == documented
    assert len(pairs) == len(ENDPOINTS) + 1  # and the document itself


def test_openapi_schemas_resolve(http: httpx.Client) -> None:
    doc = http.get(f"{V1}/openapi.json").json()
    schemas = doc["components"]["schemas"]
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(doc)
    assert refs and all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)
    ingest = doc["paths"]["/ingest"]["post"]
    assert ingest["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/IngestRequest"
    }
    values = schemas["Series"]["properties"]["values"]["items"]["anyOf"]
    assert {"enum": ["-Infinity", "Infinity", "NaN"]} in values
    history = doc["paths"]["/runs/{run_id}/metrics/{key}"]["get"]
    assert {p["name"] for p in history["parameters"]} == {
        "run_id",
        "key",
        "buckets",
        "start",
        "end",
        "format",
    }


def test_oversized_and_bomb_bodies_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runbase.server import _native

    monkeypatch.setattr(_native, "MAX_BODY_BYTES", 64 * 1024)
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    headers = {"Content-Type": "application/json"}
    try:
        with serve_in_thread(store_app(store, tmp_path / "artifacts")) as url:
            response = httpx.post(f"{url}{V1}/ingest", content=b" " * 100_000, headers=headers)
            assert "exceeds" in _error(response, 400, "INVALID_PARAMETER_VALUE")
            bomb = gzip.compress(b" " * 10_000_000)  # 10 KB that inflate to 10 MB
            response = httpx.post(
                f"{url}{V1}/ingest", content=bomb, headers={**headers, "Content-Encoding": "gzip"}
            )
            assert "exceeds" in _error(response, 400, "INVALID_PARAMETER_VALUE")
    finally:
        store.close()
