"""MLflow's run endpoints on a live server: JSON shapes, rules, limits and error answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

from server.live import MLFLOW_PREFIX, MlflowApi

DOCS = " See the API docs for more information about request parameters."
Unique = Callable[[str], str]


def _run(api: MlflowApi, run_id: str) -> dict[str, Any]:
    return api.ok("GET", "runs/get", {"run_id": run_id})["run"]  # type: ignore[no-any-return]


def _metrics(run: dict[str, Any]) -> dict[str, Any]:
    return {m["key"]: m["value"] for m in run["data"]["metrics"]}


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def _params(run: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in run["data"].get("params", [])}


def _history(api: MlflowApi, run_id: str, key: str, **params: Any) -> dict[str, Any]:
    body = {"run_id": run_id, "metric_key": key, **params}
    return api.ok("GET", "metrics/get-history", body)  # type: ignore[no-any-return]


# -- runs ----------------------------------------------------------------------------------------
def test_create_run_json(api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("runs"))
    body = {
        "experiment_id": exp,
        "user_id": "ana",
        "start_time": 1700000000000,
        "tags": [{"key": "mlflow.user", "value": "ana"}, {"key": "team", "value": "cv"}],
    }
    run = api.ok("POST", "runs/create", body)["run"]
    info = run["info"]
    run_id = info["run_id"]
    assert len(run_id) == 32 and info["run_uuid"] == run_id
    assert info["experiment_id"] == exp
    assert info["artifact_uri"] == f"mlflow-artifacts:/{exp}/{run_id}/artifacts"
    assert (info["status"], info["lifecycle_stage"], info["user_id"]) == (
        "RUNNING",
        "active",
        "ana",
    )
    assert info["start_time"] == 1700000000000 and "end_time" not in info
    # The server names the run and records the name as a tag, as MLflow's server does.
    tags = _tags(run)
    assert tags["mlflow.runName"] == info["run_name"] != ""
    assert tags["team"] == "cv"
    again = _run(api, run_id)
    assert (again["info"], _tags(again), again["inputs"]) == (info, tags, {})


def test_run_name_from_argument_or_tag_and_conflict(api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("names"))
    by_tag = api.run(exp, tags=[{"key": "mlflow.runName", "value": "from-tag"}])
    assert _run(api, by_tag)["info"]["run_name"] == "from-tag"
    both = api.run(exp, run_name="same", tags=[{"key": "mlflow.runName", "value": "same"}])
    assert _tags(_run(api, both))["mlflow.runName"] == "same"
    response = api.post(
        "runs/create",
        {
            "experiment_id": exp,
            "run_name": "a",
            "tags": [{"key": "mlflow.runName", "value": "b"}],
        },
    )
    message = api.error(response, 400, "INVALID_PARAMETER_VALUE")
    assert message == (
        "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different "
        "values (run_name='a', mlflow.runName='b')."
    )


def test_create_run_in_unknown_or_deleted_experiment(api: MlflowApi, unique: Unique) -> None:
    api.error(api.post("runs/create", {"experiment_id": "987654"}), 404, "RESOURCE_DOES_NOT_EXIST")
    exp = api.experiment(unique("gone"))
    api.ok("POST", "experiments/delete", {"experiment_id": exp})
    message = api.error(
        api.post("runs/create", {"experiment_id": exp}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "must be in the 'active' state" in message


def test_unknown_run(api: MlflowApi) -> None:
    missing = "0" * 32
    message = api.error(api.get("runs/get", run_id=missing), 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"Run with id={missing} not found"
    for endpoint in ("runs/log-batch", "runs/update", "runs/delete", "runs/log-inputs"):
        api.error(api.post(endpoint, {"run_id": missing}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_update_run(api: MlflowApi, unique: Unique) -> None:
    run_id = api.run(api.experiment(unique("update")), run_name="before")
    body = {"run_id": run_id, "run_uuid": run_id, "status": "FINISHED", "end_time": 2000}
    info = api.ok("POST", "runs/update", body)["run_info"]
    assert (info["status"], info["end_time"]) == ("FINISHED", 2000)
    info = api.ok("POST", "runs/update", {"run_id": run_id, "run_name": "after", "status": 4})[
        "run_info"
    ]
    assert (info["run_name"], info["status"]) == ("after", "FAILED")
    assert _tags(_run(api, run_id))["mlflow.runName"] == "after"
    response = api.post("runs/update", {"run_id": run_id, "status": "DONE"})
    assert "Invalid value \"DONE\" for parameter 'status'" in api.error(
        response, 400, "INVALID_PARAMETER_VALUE"
    )


def test_delete_and_restore_run(api: MlflowApi, unique: Unique) -> None:
    run_id = api.run(api.experiment(unique("delete")))
    assert api.ok("POST", "runs/delete", {"run_id": run_id}) == {}
    assert _run(api, run_id)["info"]["lifecycle_stage"] == "deleted"
    response = api.post("runs/log-parameter", {"run_id": run_id, "key": "a", "value": "1"})
    message = api.error(response, 400, "INVALID_PARAMETER_VALUE")
    assert message == f"The run {run_id} must be in the 'active' state. Current state is deleted."
    api.ok("POST", "runs/restore", {"run_id": run_id})
    assert _run(api, run_id)["info"]["lifecycle_stage"] == "active"


# -- params, metrics, tags -----------------------------------------------------------------------
def test_log_metric_param_and_tags(api: MlflowApi, unique: Unique) -> None:
    run_id = api.run(api.experiment(unique("single")))
    for step, value in ((0, 1.0), (2, 0.5), (1, 0.7)):
        api.ok(
            "POST",
            "runs/log-metric",
            {
                "run_id": run_id,
                "run_uuid": run_id,
                "key": "loss",
                "value": value,
                "timestamp": 1000 + step,
                "step": step,
            },
        )
    api.ok("POST", "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})
    api.ok("POST", "runs/log-parameter", {"run_id": run_id, "key": "lr", "value": "0.1"})
    api.ok("POST", "runs/set-tag", {"run_id": run_id, "key": "stage", "value": "a"})
    api.ok("POST", "runs/set-tag", {"run_id": run_id, "key": "stage", "value": "b"})
    api.ok("POST", "runs/set-tag", {"run_id": run_id, "key": "gone", "value": "x"})
    api.ok("POST", "runs/delete-tag", {"run_id": run_id, "key": "gone"})
    run = _run(api, run_id)
    # The latest point is the one with the highest step, not the last one logged.
    assert run["data"]["metrics"] == [{"key": "loss", "value": 0.5, "timestamp": 1002, "step": 2}]
    assert _params(run) == {"lr": "0.1"}
    assert _tags(run)["stage"] == "b" and "gone" not in _tags(run)
    response = api.post("runs/delete-tag", {"run_id": run_id, "key": "gone"})
    api.error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_changing_a_param_is_refused(api: MlflowApi, unique: Unique) -> None:
    run_id = api.run(api.experiment(unique("param")))
    api.ok("POST", "runs/log-parameter", {"run_id": run_id, "key": "a", "value": "1"})
    response = api.post("runs/log-parameter", {"run_id": run_id, "key": "a", "value": "2"})
    message = api.error(response, 400, "INVALID_PARAMETER_VALUE")
    assert message.startswith("Changing param values is not allowed. Param with key='a'")


def test_log_metric_needs_a_timestamp(api: MlflowApi, unique: Unique) -> None:
    run_id = api.run(api.experiment(unique("ts")))
    response = api.post("runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.0})
    message = api.error(response, 400, "INVALID_PARAMETER_VALUE")
    assert message == "Missing value for required parameter 'timestamp'." + DOCS


def test_log_batch(api: MlflowApi, unique: Unique) -> None:
    run_id = api.run(api.experiment(unique("batch")))
    batch = {
        "run_id": run_id,
        "metrics": [
            {"key": "m", "value": float(i), "timestamp": 1000 + i, "step": i, "run_id": run_id}
            for i in range(10)
        ],
        "params": [{"key": f"p{i}", "value": str(i)} for i in range(5)],
        "tags": [{"key": "t", "value": "v"}],
    }
    assert api.ok("POST", "runs/log-batch", batch) == {}
    assert api.ok("POST", "runs/log-batch", batch) == {}  # a retry changes nothing
    history = _history(api, run_id, "m")["metrics"]
    assert [p["step"] for p in history] == list(range(10))
    run = _run(api, run_id)
    assert _metrics(run) == {"m": 9.0}
    assert _params(run) == {f"p{i}": str(i) for i in range(5)}


def test_log_batch_messages(api: MlflowApi, unique: Unique) -> None:
    run_id = api.run(api.experiment(unique("batch-errors")))

    def message(body: dict[str, Any]) -> str:
        return api.error(api.post("runs/log-batch", body), 400, "INVALID_PARAMETER_VALUE")

    no_timestamp = {"run_id": run_id, "metrics": [{"key": "m", "value": 1.0}]}
    assert message(no_timestamp) == (
        "Missing value for required parameter 'metrics[0].timestamp'." + DOCS
    )
    assert message({"run_id": 31}) == (
        "Invalid value 31 for parameter 'run_id' supplied. Hint: Value was of type 'int'." + DOCS
    )
    no_key = {"run_id": run_id, "params": [{"value": "1"}]}
    assert message(no_key) == "Missing value for required parameter 'params[0].key'." + DOCS
    duplicates = {
        "run_id": run_id,
        "params": [{"key": "dup", "value": "1"}, {"key": "dup", "value": "1"}],
    }
    assert message(duplicates) == (
        "Duplicate parameter keys have been submitted: ['dup']. Please ensure the request "
        "contains only one param value per param key."
    )
    metric = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    param = {"key": "p", "value": "v"}
    for body, name, limit, count in (
        ({"metrics": [metric] * 1001}, "metrics", 1000, 1001),
        ({"params": [param] * 101}, "params", 100, 101),
        ({"tags": [param] * 101}, "tags", 100, 101),
        (
            {"metrics": [metric] * 900, "params": [param] * 100, "tags": [param]},
            "metrics, params, and tags",
            1000,
            1001,
        ),
    ):
        assert message({"run_id": run_id, **body}) == (
            f"A batch logging request can contain at most {limit} {name}. Got {count} {name}. "
            f"Please split up {name} across multiple requests and try again."
        )
    assert _run(api, run_id)["data"]["metrics"] == []  # nothing of a refused batch is kept


def test_long_values_are_truncated(api: MlflowApi, unique: Unique) -> None:
    # MLflow's server truncates (MLFLOW_TRUNCATE_LONG_VALUES, on by default) instead of refusing.
    run_id = api.run(api.experiment(unique("long")))
    body = {
        "run_id": run_id,
        "params": [{"key": "p", "value": "x" * 7000}],
        "tags": [{"key": "t", "value": "y" * 9000}],
    }
    api.ok("POST", "runs/log-batch", body)
    api.ok("POST", "runs/log-parameter", {"run_id": run_id, "key": "q", "value": "z" * 6001})
    run = _run(api, run_id)
    assert len(_params(run)["p"]) == 6000 and len(_params(run)["q"]) == 6000
    assert len(_tags(run)["t"]) == 8000
    response = api.post("runs/log-parameter", {"run_id": run_id, "key": "k" * 251, "value": "1"})
    assert "exceeds the maximum length of 250" in api.error(
        response, 400, "INVALID_PARAMETER_VALUE"
    )


def test_nan_and_infinity_round_trip(api: MlflowApi, http: httpx.Client, unique: Unique) -> None:
    run_id = api.run(api.experiment(unique("nan")))
    metrics = [
        {"key": "nan", "value": "NaN", "timestamp": 1, "step": 0},
        {"key": "inf", "value": "Infinity", "timestamp": 1, "step": 0},
        {"key": "ninf", "value": "-Infinity", "timestamp": 1, "step": 0},
    ]
    api.ok("POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
    # Python's json module writes bare NaN; accept that too.
    raw = json.dumps({"run_id": run_id, "key": "bare", "value": float("nan"), "timestamp": 1})
    response = http.post(
        f"{MLFLOW_PREFIX}/runs/log-metric",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert _metrics(_run(api, run_id)) == {
        "bare": "NaN",
        "inf": "Infinity",
        "nan": "NaN",
        "ninf": "-Infinity",
    }
    assert _history(api, run_id, "ninf")["metrics"][0]["value"] == "-Infinity"


def test_concurrent_out_of_order_batches(api: MlflowApi, unique: Unique) -> None:
    """MLflow's async logging sends batches from ten threads at once."""
    run_id = api.run(api.experiment(unique("async")))
    errors: list[str] = []

    def send(start: int) -> None:
        with httpx.Client(base_url=str(api.http.base_url), timeout=60) as client:
            for chunk in range(start, 200, 8):
                body = {
                    "run_id": run_id,
                    "metrics": [
                        {"key": "m", "value": s * 0.5, "timestamp": 10 + s, "step": s}
                        for s in range(chunk * 5, chunk * 5 + 5)
                    ],
                    "params": [{"key": f"p{chunk}", "value": "x"}],
                }
                response = client.post(f"{MLFLOW_PREFIX}/runs/log-batch", json=body)
                if response.status_code != 200:
                    errors.append(response.text)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = _history(api, run_id, "m")["metrics"]
    assert [p["step"] for p in history] == list(range(1000))
    assert len(_params(_run(api, run_id))) == 200


# -- inputs and outputs --------------------------------------------------------------------------
def test_log_inputs(api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("inputs"))
    run_id = api.run(exp)
    dataset = {
        "name": "digits",
        "digest": "f94e5e59",
        "source_type": "local",
        "source": '{"uri": "/data/digits"}',
        "schema": '{"mlflow_colspec": []}',
        "profile": '{"num_rows": 3}',
    }
    item = {"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}
    body = {"run_id": run_id, "datasets": [item]}
    assert api.ok("POST", "runs/log-inputs", body) == {}
    api.ok("POST", "runs/log-inputs", body)  # the same input again is a no-op
    assert _run(api, run_id)["inputs"] == {"dataset_inputs": [item]}
    found = api.ok(
        "POST",
        "runs/search",
        {"experiment_ids": [exp], "filter": "datasets.context = 'training'"},
    )
    assert [r["info"]["run_id"] for r in found["runs"]] == [run_id]
    bad = {"run_id": run_id, "datasets": [{"dataset": {"name": "x"}}]}
    message = api.error(api.post("runs/log-inputs", bad), 400, "INVALID_PARAMETER_VALUE")
    assert "'datasets[0].dataset.digest'" in message


# -- search and history --------------------------------------------------------------------------
def test_search_runs_filter_order_and_pages(api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("search"))
    ids = {}
    for i, (bs, acc) in enumerate((("16", 0.6), ("24", 0.8), ("24", 0.9), ("32", 0.7))):
        run_id = api.run(exp, run_name=f"r{i}")
        body = {
            "run_id": run_id,
            "params": [{"key": "batch_size", "value": bs}],
            "metrics": [{"key": "val_map", "value": acc, "timestamp": 1, "step": 0}],
        }
        api.ok("POST", "runs/log-batch", body)
        ids[run_id] = acc
    query = {
        "experiment_ids": [exp],
        "filter": "params.batch_size != '16' and metrics.val_map > 0.65",
        "order_by": ["metrics.val_map DESC"],
        "max_results": 2,
        "run_view_type": "ACTIVE_ONLY",
    }
    first = api.ok("POST", "runs/search", query)
    second = api.ok("POST", "runs/search", {**query, "page_token": first["next_page_token"]})
    assert "next_page_token" not in second
    found = [r["info"]["run_id"] for r in first["runs"] + second["runs"]]
    assert [ids[r] for r in found] == [0.9, 0.8, 0.7]
    assert api.ok("POST", "runs/search", {"experiment_ids": [exp], "filter": "metrics.x > 1"}) == {
        "runs": []
    }


def test_search_runs_errors(api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("search-errors"))

    def message(body: dict[str, Any]) -> str:
        response = api.post("runs/search", {"experiment_ids": [exp], **body})
        return api.error(response, 400, "INVALID_PARAMETER_VALUE")

    assert message({"max_results": 123456789}) == (
        "Invalid value 123456789 for parameter 'max_results' supplied. "
        "Hint: Value was of type 'int'." + DOCS
    )
    assert "positive integer" in message({"max_results": 0})
    assert "OR" in message({"filter": "params.a = '1' OR params.b = '2'"})
    assert "page token" in message({"page_token": "garbage"})
    assert "order_by" in message({"order_by": ["metrics.m SIDEWAYS"]})
    assert "out of range" in message({"experiment_ids": ["9" * 25]})  # not a database error


def test_metric_history_pages(api: MlflowApi, unique: Unique) -> None:
    run_id = api.run(api.experiment(unique("history")))
    metrics = [
        {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 5, "step": s} for s in range(25)
    ]
    api.ok("POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics})
    whole = _history(api, run_id, "loss")
    assert len(whole["metrics"]) == 25 and "next_page_token" not in whole
    pages, token = [], None
    while True:
        page = _history(
            api, run_id, "loss", max_results=10, **({"page_token": token} if token else {})
        )
        pages.append(len(page["metrics"]))
        steps = [p["step"] for p in page["metrics"]]
        assert steps == sorted(steps)
        token = page.get("next_page_token")
        if not token:
            break
    assert pages == [10, 10, 5]
    assert _history(api, run_id, "nope") == {"metrics": []}
    response = api.get("metrics/get-history", run_id=run_id, metric_key="loss", max_results=0)
    assert "positive integer" in api.error(response, 400, "INVALID_PARAMETER_VALUE")
    response = api.get("metrics/get-history", run_id=run_id)
    assert "'metric_key'" in api.error(response, 400, "INVALID_PARAMETER_VALUE")
