"""MLflow 3 logged models on a live server: JSON shapes, run links, model metrics, search, the
artifact listing, and error answers."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from server.live import ARTIFACTS_PREFIX, MlflowApi

Unique = Callable[[str], str]
DOCS = " See the API docs for more information about request parameters."


def _create(api: MlflowApi, exp: str, **fields: Any) -> dict[str, Any]:
    body = {"experiment_id": exp, **fields}
    return api.ok("POST", "logged-models", body)["model"]  # type: ignore[no-any-return]


def _get(api: MlflowApi, model_id: str) -> dict[str, Any]:
    return api.ok("GET", f"logged-models/{model_id}")["model"]  # type: ignore[no-any-return]


def _search(api: MlflowApi, body: dict[str, Any]) -> list[str]:
    return [m["info"]["name"] for m in api.ok("POST", "logged-models/search", body)["models"]]


# -- create, get, finalize, delete ---------------------------------------------------------------
def test_create_and_get_json(api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("lm"))
    run_id = api.run(exp)
    model = _create(
        api,
        exp,
        name="model",
        source_run_id=run_id,
        model_type="classifier",
        params=[{"key": "depth", "value": "4"}],
        tags=[{"key": "mlflow.user", "value": "ana"}],
    )
    info = model["info"]
    model_id = info["model_id"]
    assert re.fullmatch(r"m-[0-9a-f]{32}", model_id)
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp}/models/{model_id}/artifacts"
    assert (info["experiment_id"], info["name"], info["status"]) == (
        exp,
        "model",
        "LOGGED_MODEL_PENDING",
    )
    assert (info["model_type"], info["source_run_id"]) == ("classifier", run_id)
    assert info["tags"] == [{"key": "mlflow.user", "value": "ana"}]
    assert isinstance(info["creation_timestamp_ms"], int)
    assert info["last_updated_timestamp_ms"] >= info["creation_timestamp_ms"]
    assert model["data"] == {"params": [{"key": "depth", "value": "4"}]}
    assert _get(api, model_id) == model
    # A model without a name gets one; the unset fields are left out, model_type is "".
    bare = _create(api, exp)["info"]
    assert bare["name"] and bare["model_type"] == ""
    assert "source_run_id" not in bare and "tags" not in bare


def test_create_errors(api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("lm-errors"))
    message = api.error(api.post("logged-models", {"name": "m"}), 400, "INVALID_PARAMETER_VALUE")
    assert message == f"Missing value for required parameter 'experiment_id'.{DOCS}"
    api.error(
        api.post("logged-models", {"experiment_id": "987654", "name": "m"}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    message = api.error(
        api.post("logged-models", {"experiment_id": exp, "name": "a/b"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Invalid model name" in message
    api.error(
        api.post("logged-models", {"experiment_id": exp, "params": [{"value": "v"}]}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    api.ok("POST", "experiments/delete", {"experiment_id": exp})
    message = api.error(
        api.post("logged-models", {"experiment_id": exp}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "must be in the 'active' state" in message


def test_finalize(api: MlflowApi, unique: Unique) -> None:
    model_id = _create(api, api.experiment(unique("lm-final")), name="m")["info"]["model_id"]
    body = {"model_id": model_id, "status": "LOGGED_MODEL_READY"}
    ready = api.ok("PATCH", f"logged-models/{model_id}", body)["model"]
    assert ready["info"]["status"] == "LOGGED_MODEL_READY"
    failed = api.ok("PATCH", f"logged-models/{model_id}", {"status": 3})["model"]  # by number
    assert failed["info"]["status"] == "LOGGED_MODEL_UPLOAD_FAILED"
    for bad, code in (({}, "Missing value"), ({"status": "DONE"}, "Invalid value")):
        response = api.send("PATCH", f"logged-models/{model_id}", bad)
        assert code in api.error(response, 400, "INVALID_PARAMETER_VALUE")
    unknown = "m-" + "0" * 32
    response = api.send("PATCH", f"logged-models/{unknown}", body)
    message = api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"Logged model with ID '{unknown}' not found."


def test_tags_params_and_delete(api: MlflowApi, unique: Unique) -> None:
    model_id = _create(api, api.experiment(unique("lm-tags")), name="m")["info"]["model_id"]
    tags = [{"key": "a", "value": "1"}, {"key": "dir/key.x", "value": "2"}]
    assert api.ok("PATCH", f"logged-models/{model_id}/tags", {"tags": tags}) == {}
    assert _get(api, model_id)["info"]["tags"] == tags
    assert api.ok("DELETE", f"logged-models/{model_id}/tags/dir/key.x") == {}
    assert _get(api, model_id)["info"]["tags"] == tags[:1]
    response = api.send("DELETE", f"logged-models/{model_id}/tags/nope")
    api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")

    params = {"model_id": model_id, "params": [{"key": "lr", "value": "0.1"}]}
    assert api.ok("POST", f"logged-models/{model_id}/params", params) == {}
    api.ok("POST", f"logged-models/{model_id}/params", params)  # the same value again: a no-op
    assert _get(api, model_id)["data"]["params"] == params["params"]
    changed = {"params": [{"key": "lr", "value": "0.2"}]}
    message = api.error(
        api.post(f"logged-models/{model_id}/params", changed), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "Changing param values is not allowed" in message

    assert api.ok("DELETE", f"logged-models/{model_id}", {"model_id": model_id}) == {}
    api.error(api.get(f"logged-models/{model_id}"), 404, "RESOURCE_DOES_NOT_EXIST")
    api.error(api.send("DELETE", f"logged-models/{model_id}"), 404, "RESOURCE_DOES_NOT_EXIST")


# -- runs ↔ models -------------------------------------------------------------------------------
def test_run_outputs_inputs_and_model_metrics(api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("lm-runs"))
    run_id = api.run(exp)
    model_id = _create(api, exp, name="m", source_run_id=run_id)["info"]["model_id"]
    body = {"run_id": run_id, "models": [{"model_id": model_id, "step": 3}]}
    assert api.ok("POST", "runs/outputs", body) == {}
    reader = api.run(exp)
    api.ok("POST", "runs/log-inputs", {"run_id": reader, "models": [{"model_id": model_id}]})
    run = api.ok("GET", "runs/get", {"run_id": run_id})["run"]
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 3}]}
    assert run["inputs"] == {}
    found = api.ok("POST", "runs/search", {"experiment_ids": [exp]})["runs"]
    by_id = {r["info"]["run_id"]: r for r in found}
    assert by_id[reader]["inputs"] == {"model_inputs": [{"model_id": model_id}]}
    assert by_id[reader]["outputs"] == {}
    assert by_id[run_id]["outputs"] == run["outputs"]

    # Metrics naming a model are recorded on it as well, once, however often they are sent.
    batch = {
        "run_id": run_id,
        "metrics": [
            {
                "key": "acc",
                "value": 0.9,
                "timestamp": 10,
                "step": 1,
                "model_id": model_id,
                "dataset_name": "val",
                "dataset_digest": "abc",
            },
            {"key": "loss", "value": 0.5, "timestamp": 10, "step": 1},
        ],
    }
    api.ok("POST", "runs/log-batch", batch)
    api.ok("POST", "runs/log-batch", batch)
    single = {"run_id": run_id, "key": "f1", "value": "NaN", "timestamp": 11, "model_id": model_id}
    api.ok("POST", "runs/log-metric", single)
    assert _get(api, model_id)["data"]["metrics"] == [
        {"key": "f1", "value": "NaN", "timestamp": 11, "step": 0, "model_id": model_id,
         "run_id": run_id},
        {"key": "acc", "value": 0.9, "timestamp": 10, "step": 1, "model_id": model_id,
         "run_id": run_id, "dataset_name": "val", "dataset_digest": "abc"},
    ]  # fmt: skip
    run_metrics = api.ok("GET", "runs/get", {"run_id": run_id})["run"]["data"]["metrics"]
    assert sorted(m["key"] for m in run_metrics) == ["acc", "f1", "loss"]


def test_run_link_errors(api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("lm-link"))
    run_id = api.run(exp)
    unknown = "m-" + "0" * 32
    body = {"run_id": run_id, "models": [{"model_id": unknown, "step": 0}]}
    api.error(api.post("runs/outputs", body), 404, "RESOURCE_DOES_NOT_EXIST")
    message = api.error(
        api.post("runs/outputs", {"run_id": run_id}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert message == f"Missing value for required parameter 'models'.{DOCS}"
    assert api.ok("POST", "runs/outputs", {"run_id": run_id, "models": []}) == {}
    response = api.post("runs/outputs", {"run_id": "f" * 32, "models": []})
    api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    response = api.post("runs/log-inputs", {"run_id": run_id, "models": [{"model_id": unknown}]})
    api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    metric = {"key": "m", "value": 1, "timestamp": 1, "model_id": unknown}
    response = api.post("runs/log-batch", {"run_id": run_id, "metrics": [metric]})
    api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    model_id = _create(api, exp, name="m")["info"]["model_id"]
    api.ok("POST", "runs/delete", {"run_id": run_id})
    body = {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]}
    message = api.error(api.post("runs/outputs", body), 400, "INVALID_PARAMETER_VALUE")
    assert "must be in the 'active' state" in message


# -- search --------------------------------------------------------------------------------------
@pytest.fixture
def catalog(api: MlflowApi, unique: Unique) -> tuple[str, dict[str, str]]:
    """Three models with ``acc`` on datasets ``val`` and ``test``; (experiment, name → id)."""
    exp = api.experiment(unique("lm-search"))
    run_id = api.run(exp)
    ids = {}
    for name, val, test in (("alpha", 0.7, 0.2), ("beta", 0.9, 0.1), ("gamma", 0.8, 0.3)):
        model_id = _create(api, exp, name=name, source_run_id=run_id)["info"]["model_id"]
        metrics = [
            {"key": "acc", "value": val, "timestamp": 1, "model_id": model_id,
             "dataset_name": "val"},
            {"key": "acc", "value": test, "timestamp": 2, "model_id": model_id,
             "dataset_name": "test"},
        ]  # fmt: skip
        api.ok("POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
        ids[name] = model_id
    api.ok("PATCH", f"logged-models/{ids['beta']}", {"status": "LOGGED_MODEL_READY"})
    return exp, ids


def test_search(api: MlflowApi, catalog: tuple[str, dict[str, str]]) -> None:
    exp, ids = catalog
    assert _search(api, {"experiment_ids": [exp]}) == ["gamma", "beta", "alpha"]
    # What list_artifacts and load_model("runs:/<id>/model") send.
    assert _search(api, {"experiment_ids": [exp], "filter": "name = 'beta'"}) == ["beta"]
    assert _search(api, {"experiment_ids": [exp], "filter": "status = 'READY'"}) == ["beta"]
    by_val = {
        "experiment_ids": [exp],
        "order_by": [
            {"field_name": "metrics.acc", "ascending": False, "dataset_name": "val"},
        ],
    }
    assert _search(api, by_val) == ["beta", "gamma", "alpha"]
    by_test = {
        "experiment_ids": [exp],
        "order_by": [{"field_name": "metrics.acc", "ascending": True, "dataset_name": "test"}],
    }
    assert _search(api, by_test) == ["beta", "alpha", "gamma"]
    on_val = {
        "experiment_ids": [exp],
        "filter": "metrics.acc > 0.75",
        "datasets": [{"dataset_name": "val"}],
    }
    assert _search(api, on_val) == ["gamma", "beta"]
    by_name = {"experiment_ids": [exp], "order_by": [{"field_name": "name"}]}  # ascending default
    assert _search(api, by_name) == ["alpha", "beta", "gamma"]
    assert _search(api, {"experiment_ids": []}) == []

    pages: list[list[str]] = []
    body: dict[str, Any] = {"experiment_ids": [exp], "max_results": 2}
    while True:
        page = api.ok("POST", "logged-models/search", body)
        pages.append([m["info"]["name"] for m in page["models"]])
        if "next_page_token" not in page:
            break
        body["page_token"] = page["next_page_token"]
    assert pages == [["gamma", "beta"], ["alpha"]]
    first = api.ok("POST", "logged-models/search", {"experiment_ids": [exp]})["models"][0]
    assert first == _get(api, ids["gamma"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, f"Missing value for required parameter 'experiment_ids'.{DOCS}"),
        ({"experiment_ids": ["1"], "filter": "name = 'a' OR name = 'b'"}, "OR"),
        ({"experiment_ids": ["1"], "filter": "run_id = 'x'"}, "run_id"),
        ({"experiment_ids": ["1"], "order_by": [{"field_name": "params.x"}]}, "params"),
        ({"experiment_ids": ["1"], "order_by": [{"ascending": True}]}, "field_name"),
        ({"experiment_ids": ["1"], "page_token": "garbage!"}, "page token"),
        ({"experiment_ids": ["1"], "max_results": 60000}, "max_results"),
        ({"experiment_ids": ["x"]}, "experiment id"),
        ({"experiment_ids": ["9" * 25]}, "out of range"),
    ],
    ids=[
        "no-experiments",
        "or",
        "attribute",
        "order-entity",
        "order-field",
        "token",
        "max",
        "id",
        "huge-id",
    ],
)
def test_search_errors(api: MlflowApi, body: dict[str, Any], message: str) -> None:
    response = api.post("logged-models/search", body)
    assert message in api.error(response, 400, "INVALID_PARAMETER_VALUE")


# -- artifacts -----------------------------------------------------------------------------------
def test_artifacts_through_the_proxy(api: MlflowApi, http: httpx.Client, unique: Unique) -> None:
    exp = api.experiment(unique("lm-files"))
    model = _create(api, exp, name="m")["info"]
    root = model["artifact_uri"].removeprefix("mlflow-artifacts:/")
    for path, data in (("MLmodel", b"flavors: {}\n"), ("data/model.pt", b"\x00" * 10)):
        assert http.put(f"{ARTIFACTS_PREFIX}/{root}/{path}", content=data).status_code == 200
    endpoint = f"logged-models/{model['model_id']}/artifacts/directories"
    listing = api.ok("GET", endpoint)
    assert listing == {
        "root_uri": model["artifact_uri"],
        "files": [
            {"path": "MLmodel", "is_dir": False, "file_size": 12},
            {"path": "data", "is_dir": True},
        ],
    }
    inner = api.ok("GET", endpoint, {"artifact_directory_path": "data"})["files"]
    assert inner == [{"path": "data/model.pt", "is_dir": False, "file_size": 10}]
    assert http.get(f"{ARTIFACTS_PREFIX}/{root}/data/model.pt").content == b"\x00" * 10
    response = api.get(endpoint, artifact_directory_path="../..")
    assert api.error(response, 400, "INVALID_PARAMETER_VALUE") == "Invalid path"
