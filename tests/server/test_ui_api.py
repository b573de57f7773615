"""The web UI's API (``/api/v1/ui``) on a live ``runbase server``, and the UI's static files."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import runbase
from liveserver import serve_in_thread
from runbase.artifacts import LocalArtifactRepository
from runbase.server._context import ServerContext
from runbase.server._ui_artifacts import parse_image_name
from runbase.server._ui_series import extreme_indices
from runbase.server._ui_static import UI_MISSING_PAGE
from runbase.server.app import build_app
from runbase.store import open_store
from server.live import LiveServer

UI = "/api/v1/ui"


@pytest.fixture
def client(live_server: LiveServer, tmp_path: Path) -> Iterator[runbase.Client]:
    c = runbase.Client(live_server.url, spool_dir=tmp_path / "spool")
    yield c
    c.close()


def _runs(http: httpx.Client, **body: object) -> dict[str, object]:
    response = http.post(f"{UI}/runs", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_experiments_with_counts(
    http: httpx.Client, client: runbase.Client, unique: Callable[[str], str]
) -> None:
    exp = client.create_experiment(unique("counts"))
    for i in range(3):
        run = client.create_run(exp, start_time=1000 + i).info.run_id
        client.set_terminated(run, end_time=9000 + i)
    found = {
        e["experiment"]["experiment_id"]: e
        for e in http.get(f"{UI}/experiments").json()["experiments"]
    }
    assert found[exp]["run_count"] == 3
    assert found[exp]["last_activity"] == 9002


def test_runs_table_columns_order_filter_and_tree(
    http: httpx.Client, client: runbase.Client, unique: Callable[[str], str]
) -> None:
    exp = client.create_experiment(unique("table"))
    parent = client.create_run(exp, run_name="parent", start_time=1).info.run_id
    kids = []
    for i, lr in enumerate((0.1, 0.01, 0.001)):
        run = client.create_run(
            exp, run_name=f"kid{i}", start_time=10 + i, tags={"mlflow.parentRunId": parent}
        ).info.run_id
        client.log_params(run, {"lr": lr, "model": {"arch": "unet"}})
        client.log_metric_series(run, "val/loss", [3.0 - i, 0.5 + i, float("nan")])
        kids.append(run)
    client.flush()
    keys = http.get(f"{UI}/keys", params={"experiment_id": exp}).json()
    assert keys["params"] == ["lr", "model.arch"] and keys["metrics"] == ["val/loss"]

    columns = [
        {"kind": "param", "key": "lr"},
        {"kind": "metric", "key": "val/loss", "agg": "min"},
        {"kind": "metric", "key": "val/loss", "agg": "last"},
        {"kind": "tag", "key": "mlflow.parentRunId"},
    ]
    page = _runs(
        http,
        experiment_ids=[exp],
        columns=columns,
        order_by=["metrics.`val/loss`.min DESC"],
        filter="params.lr != '0.5'",
    )
    rows = page["runs"]
    assert [r["run_id"] for r in rows] == [kids[1], kids[2], kids[0]]  # min: 1.5, 1.0, 0.5
    assert rows[0]["values"] == ["0.01", 1.5, "NaN", parent]
    assert rows[0]["parent_run_name"] == "parent"

    top = _runs(http, experiment_ids=[exp], top_level_only=True)["runs"]
    assert [(r["run_id"], r["child_count"]) for r in top] == [(parent, 3)]
    children = _runs(http, experiment_ids=[exp], parent_run_id=parent, max_results=2)
    assert len(children["runs"]) == 2 and children["next_page_token"]
    rest = _runs(
        http,
        experiment_ids=[exp],
        parent_run_id=parent,
        max_results=2,
        page_token=children["next_page_token"],
    )
    assert len(rest["runs"]) == 1

    got = http.post(f"{UI}/runs/get", json={"run_ids": [kids[1], kids[0], "f" * 32]}).json()
    assert [r["info"]["run_id"] for r in got["runs"]] == [kids[1], kids[0]]

    detail = http.get(f"{UI}/runs/{parent}").json()
    assert [c["run_name"] for c in detail["children"]] == ["kid0", "kid1", "kid2"]
    assert detail["parent"] is None and detail["models_available"] is True
    assert http.get(f"{UI}/runs/{kids[0]}").json()["parent"]["run_name"] == "parent"
    counts = http.post(f"{UI}/child-counts", json={"run_ids": [parent, kids[0]]}).json()
    assert counts == {"counts": {parent: 3}}


@pytest.mark.parametrize(
    ("body", "position", "subject"),
    [
        ({"filter": "metrics.loss >"}, 14, "filter"),
        ({"filter": "params.lr = 1"}, 12, "filter"),  # params compare with strings
        ({"order_by": ["metrics.loss SIDEWAYS"]}, 13, "order_by"),
    ],
)
def test_filter_errors_carry_their_position(
    http: httpx.Client, body: dict[str, object], position: int, subject: str
) -> None:
    response = http.post(f"{UI}/runs", json={"experiment_ids": ["0"], **body})
    assert response.status_code == 400
    error = response.json()
    assert (error["position"], error["subject"]) == (position, subject)
    assert error["error_code"] == "INVALID_PARAMETER_VALUE" and error["detail"]


def test_bad_requests_are_400(http: httpx.Client) -> None:
    assert http.post(f"{UI}/runs", json={"nope": 1}).status_code == 400
    assert http.post(f"{UI}/runs", content=b"{}").status_code == 400  # no JSON content type
    assert (
        http.post(f"{UI}/runs", json={"experiment_ids": ["0"], "max_results": 0}).status_code == 400
    )
    assert (
        http.post(f"{UI}/series", json={"run_ids": [], "keys": [], "buckets": 0}).status_code == 400
    )
    assert http.get(f"{UI}/runs/{'f' * 32}").status_code == 404
    assert http.get(f"{UI}/openapi.json").json()["paths"]["/runs"]["post"]["summary"]


def test_series_keep_peaks_on_one_grid_and_rebucket_windows(
    http: httpx.Client, client: runbase.Client, unique: Callable[[str], str]
) -> None:
    exp = client.create_experiment(unique("series"))
    long_run = client.create_run(exp).info.run_id
    short_run = client.create_run(exp).info.run_id
    values = np.sin(np.arange(100_000) / 500.0)
    values[77_777] = 50.0
    values[123] = -40.0
    values[5000] = float("nan")
    client.log_metric_series(long_run, "loss", values)
    client.log_metric_series(short_run, "loss", [1.0, 2.0, 3.0], steps=[0, 50_000, 99_999])
    client.flush()
    body = {"run_ids": [long_run, short_run], "keys": ["loss"], "buckets": 500}
    answer = http.post(f"{UI}/series", json=body).json()
    assert (answer["start"], answer["end"]) == (0, 99_999)
    long_series, short_series = answer["series"]
    assert long_series["total"] == 100_000 and len(long_series["steps"]) <= 2 * 500 + 2
    assert max(v for v in long_series["values"] if v is not None) == 50.0
    assert min(v for v in long_series["values"] if v is not None) == -40.0
    assert 77_777 in long_series["steps"] and 123 in long_series["steps"]
    assert short_series["steps"] == [0, 50_000, 99_999] and short_series["timestamps"] == []

    window = http.post(
        f"{UI}/series",
        json={**body, "buckets": 2000, "start": 77_000, "end": 78_000, "timestamps": True},
    ).json()
    zoomed = window["series"][0]
    assert zoomed["total"] == 1001 and zoomed["steps"] == list(range(77_000, 78_001))
    assert len(zoomed["timestamps"]) == 1001
    assert window["series"][1]["total"] == 0

    nan_window = http.post(f"{UI}/series", json={**body, "start": 4990, "end": 5010}).json()
    assert nan_window["series"][0]["values"][10] is None


def test_extreme_indices_keep_first_last_min_max() -> None:
    steps = np.arange(10, dtype=np.int64)
    values = np.array([5, 1, 9, 4, 4, 4, math.nan, math.nan, 2, 3], dtype=np.float64)
    kept = extreme_indices(steps, values, 0, 5.0).tolist()
    assert kept == [0, 1, 2, 5, 8, 9]  # bucket 0: min at 1, max at 2; bucket 1: max 5, min 8
    assert extreme_indices(steps, values, 0, 1.0).tolist() == list(range(10))


def test_images_index_and_artifact_files(
    http: httpx.Client, client: runbase.Client, unique: Callable[[str], str]
) -> None:
    exp = client.create_experiment(unique("media"))
    run = client.create_run(exp).info.run_id
    img = np.zeros((4, 4, 3), dtype=np.uint8)
    for step in (3, 1, 2):
        client.log_image(run, img, key="val/pred", step=step)
    client.log_image(run, img, key="other", step=0)
    client.log_text(run, "<script>alert(1)</script>", "page.html")
    client.log_dict(run, {"a": 1}, "nested/conf.json")
    images = http.get(f"{UI}/runs/{run}/images").json()["images"]
    assert [s["key"] for s in images] == ["other", "val/pred"]
    assert [s["step"] for s in images[1]["steps"]] == [1, 2, 3]

    png = http.get(f"{UI}/runs/{run}/artifact", params={"path": images[1]["steps"][0]["path"]})
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["content-security-policy"].startswith("sandbox")
    assert png.headers["x-content-type-options"] == "nosniff"
    assert "content-disposition" not in png.headers

    html = http.get(f"{UI}/runs/{run}/artifact", params={"path": "page.html", "download": "1"})
    assert html.headers["content-type"] == "application/octet-stream"
    assert html.headers["content-disposition"] == "attachment; filename=page.html"
    text = http.get(f"{UI}/runs/{run}/artifact", params={"path": "nested/conf.json"})
    assert text.headers["content-type"].startswith("text/plain") and text.json() == {"a": 1}

    listing = http.get(f"{UI}/runs/{run}/artifacts").json()["files"]
    assert [f["path"] for f in listing] == ["images", "nested", "page.html"]
    nested = http.get(f"{UI}/runs/{run}/artifacts", params={"path": "nested"}).json()["files"]
    assert nested == [{"path": "nested/conf.json", "is_dir": False, "file_size": 12}]
    for bad in ("../../etc/passwd", "/etc/passwd", "%2e%2e/x", "a\\..\\b"):
        assert http.get(f"{UI}/runs/{run}/artifact", params={"path": bad}).status_code == 400
        assert http.get(f"{UI}/runs/{run}/artifacts", params={"path": bad}).status_code == 400


def test_parse_image_name() -> None:
    name = "a~b+step+12+timestamp+1700000000000+0123abcd.png"
    assert parse_image_name(name) == ("a/b", 12, 1700000000000)
    assert parse_image_name("loss%step%3%timestamp%5%ab12.png") == ("loss", 3, 5)
    assert parse_image_name("x%step%3%timestamp%5%ab12%compressed.webp") is None
    assert parse_image_name("plain.png") is None


def test_models_listing(
    http: httpx.Client, client: runbase.Client, unique: Callable[[str], str]
) -> None:
    exp = client.create_experiment(unique("models"))
    run = client.create_run(exp).info.run_id
    name = unique("model")
    api = "/api/2.0/mlflow"
    assert http.post(f"{api}/registered-models/create", json={"name": name}).status_code == 200
    for _ in range(2):
        body = {"name": name, "source": f"runs:/{run}/model", "run_id": run}
        assert http.post(f"{api}/model-versions/create", json=body).status_code == 200
    alias = {"name": name, "alias": "champion", "version": "2"}
    assert http.post(f"{api}/registered-models/alias", json=alias).status_code == 200
    models = {m["model"]["name"]: m for m in http.get(f"{UI}/models").json()["models"]}
    assert models[name]["model"]["aliases"] == {"champion": 2}
    assert [v["version"] for v in models[name]["versions"]] == [2, 1]
    assert models[name]["versions"][0]["aliases"] == ["champion"]
    detail = http.get(f"{UI}/runs/{run}").json()
    assert sorted(v["version"] for v in detail["model_versions"]) == [1, 2]


def _serve(tmp_path: Path, dist: Path) -> Iterator[str]:
    store = open_store(
        f"sqlite:///{tmp_path / 'db.sqlite'}", artifact_root=(tmp_path / "a").as_uri()
    )
    ctx = ServerContext(store, LocalArtifactRepository(tmp_path / "dest"))
    with serve_in_thread(build_app(ctx, ui_dist=dist)) as url:
        yield url
    store.close()


def test_without_a_build_the_root_explains(tmp_path: Path) -> None:
    for url in _serve(tmp_path, tmp_path / "no-dist"):
        answer = httpx.get(f"{url}/")
        assert answer.status_code == 503 and answer.text == UI_MISSING_PAGE
        assert "Node.js" in answer.text and "make ui" in answer.text
        assert httpx.get(f"{url}/api/v1/ui/experiments").status_code == 200


def test_a_build_is_served_with_its_assets(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><script src='./assets/app-1.js'></script>")
    (dist / "assets" / "app-1.js").write_text("console.log(1)")
    for url in _serve(tmp_path, dist):
        page = httpx.get(f"{url}/")
        assert page.status_code == 200 and "app-1.js" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        asset = httpx.get(f"{url}/assets/app-1.js")
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
        assert httpx.get(f"{url}/assets/missing.js").status_code == 404


def test_artifacts_outside_the_destination_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}", artifact_root=outside.as_uri())
    exp = store.create_experiment("e")
    run = store.create_run(exp, run_name="r").info.run_id
    (outside / exp / run / "artifacts").mkdir(parents=True)
    (outside / exp / run / "artifacts" / "secret.txt").write_text("no")
    ctx = ServerContext(store, LocalArtifactRepository(tmp_path / "dest"))
    with serve_in_thread(build_app(ctx, ui_dist=tmp_path)) as url:
        answer = httpx.get(f"{url}{UI}/runs/{run}/artifact", params={"path": "secret.txt"})
        assert answer.status_code == 400 and "outside" in answer.json()["message"]
    store.close()
