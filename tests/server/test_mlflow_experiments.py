"""MLflow's experiment endpoints on a live server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.live import MlflowApi

DOCS = " See the API docs for more information about request parameters."
Unique = Callable[[str], str]


def _get(api: MlflowApi, experiment_id: str) -> dict[str, Any]:
    return api.ok("GET", "experiments/get", {"experiment_id": experiment_id})["experiment"]  # type: ignore[no-any-return]


def test_create_get_and_get_by_name(api: MlflowApi, unique: Unique) -> None:
    name = unique("exp")
    body = {"name": name, "tags": [{"key": "team", "value": "cv"}]}
    exp_id = api.ok("POST", "experiments/create", body)["experiment_id"]
    exp = _get(api, exp_id)
    assert exp["name"] == name
    assert exp["artifact_location"] == f"mlflow-artifacts:/{exp_id}"
    assert exp["lifecycle_stage"] == "active"
    assert exp["tags"] == [{"key": "team", "value": "cv"}]
    assert exp["creation_time"] == exp["last_update_time"] > 0
    by_name = api.ok("GET", "experiments/get-by-name", {"experiment_name": name})
    assert by_name["experiment"] == exp


def test_default_experiment_exists(api: MlflowApi) -> None:
    exp = _get(api, "0")
    assert exp["name"] == "Default"
    assert exp["artifact_location"] == "mlflow-artifacts:/0"


def test_experiment_errors(api: MlflowApi, unique: Unique) -> None:
    name = unique("taken")
    missing = api.get("experiments/get-by-name", experiment_name=name)
    # The MLflow client reads RESOURCE_DOES_NOT_EXIST here as "create it".
    message = api.error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"Could not find experiment with name '{name}'"
    api.experiment(name)
    duplicate = api.post("experiments/create", {"name": name})
    assert name in api.error(duplicate, 400, "RESOURCE_ALREADY_EXISTS")
    no_name = api.post("experiments/create", {})
    assert api.error(no_name, 400, "INVALID_PARAMETER_VALUE") == (
        "Missing value for required parameter 'name'." + DOCS
    )
    api.error(api.get("experiments/get", experiment_id="987654"), 404, "RESOURCE_DOES_NOT_EXIST")
    api.error(api.get("experiments/get", experiment_id="abc"), 400, "INVALID_PARAMETER_VALUE")
    huge = api.get("experiments/get", experiment_id="9" * 25)
    assert "out of range" in api.error(huge, 400, "INVALID_PARAMETER_VALUE")


def test_delete_restore_rename_and_tag(api: MlflowApi, unique: Unique) -> None:
    exp_id = api.experiment(unique("life"))
    api.ok("POST", "experiments/delete", {"experiment_id": exp_id})
    assert _get(api, exp_id)["lifecycle_stage"] == "deleted"
    api.ok("POST", "experiments/restore", {"experiment_id": exp_id})
    new_name = unique("renamed")
    api.ok("POST", "experiments/update", {"experiment_id": exp_id, "new_name": new_name})
    assert _get(api, exp_id)["name"] == new_name
    other = unique("other")
    api.experiment(other)
    clash = api.post("experiments/update", {"experiment_id": exp_id, "new_name": other})
    api.error(clash, 400, "RESOURCE_ALREADY_EXISTS")
    body = {"experiment_id": exp_id, "key": "mlflow.note.content", "value": "notes"}
    api.ok("POST", "experiments/set-experiment-tag", body)
    assert _get(api, exp_id)["tags"] == [{"key": "mlflow.note.content", "value": "notes"}]
    api.error(
        api.post("experiments/delete", {"experiment_id": "0"}), 400, "INVALID_PARAMETER_VALUE"
    )


def _names(response: dict[str, Any]) -> list[str]:
    return [e["name"] for e in response.get("experiments", [])]


def test_search_filter_order_and_pages(api: MlflowApi, unique: Unique) -> None:
    prefix = unique("search")
    ids = {}
    for suffix, tag in (("a", "x"), ("b", "y"), ("c", "x"), ("d", None)):
        tags = [{"key": "kind", "value": tag}] if tag else []
        body = {"name": f"{prefix}-{suffix}", "tags": tags}
        ids[suffix] = api.ok("POST", "experiments/create", body)["experiment_id"]

    def search(**body: Any) -> dict[str, Any]:
        return api.ok("POST", "experiments/search", {"max_results": 1000, **body})  # type: ignore[no-any-return]

    # Newest first by default.
    assert _names(search(filter=f"name LIKE '{prefix}%'")) == [f"{prefix}-{s}" for s in "dcba"]
    assert _names(
        search(filter=f"name LIKE '{prefix}%' AND tags.kind = 'x'", order_by=["name"])
    ) == [
        f"{prefix}-a",
        f"{prefix}-c",
    ]
    assert _names(search(filter=f"name ILIKE '{prefix.upper()}-_' AND tags.kind IS NULL")) == [
        f"{prefix}-d"
    ]
    in_list = ", ".join(f"'{ids[s]}'" for s in "ab")
    assert sorted(_names(search(filter=f"experiment_id IN ({in_list})"))) == [
        f"{prefix}-a",
        f"{prefix}-b",
    ]
    assert _names(search(filter=f"name = '{prefix}-b' AND creation_time > 0")) == [f"{prefix}-b"]
    pages: list[str] = []
    token = None
    while True:
        page = search(
            filter=f"name LIKE '{prefix}%'",
            order_by=["name DESC"],
            max_results=3,
            **({"page_token": token} if token else {}),
        )
        pages.append(",".join(n[-1] for n in _names(page)))
        token = page.get("next_page_token")
        if token is None:
            break
    assert pages == ["d,c,b", "a"]
    # The UI uses GET.
    got = api.ok("GET", "experiments/search", {"max_results": 10, "filter": f"name = '{prefix}-c'"})
    assert _names(got) == [f"{prefix}-c"]


def test_search_view_types(api: MlflowApi, unique: Unique) -> None:
    name = unique("deleted")
    exp_id = api.experiment(name)
    api.ok("POST", "experiments/delete", {"experiment_id": exp_id})
    query = {"max_results": 10, "filter": f"name = '{name}'"}
    assert _names(api.ok("POST", "experiments/search", query)) == []
    for view in ("DELETED_ONLY", "ALL", 2):
        found = api.ok("POST", "experiments/search", {**query, "view_type": view})
        assert _names(found) == [name]


def test_search_errors(api: MlflowApi) -> None:
    def message(body: dict[str, Any]) -> str:
        response = api.post("experiments/search", body)
        return api.error(response, 400, "INVALID_PARAMETER_VALUE")

    assert "It must be a positive integer" in message({"max_results": 0})
    assert "It must be at most 50000" in message({"max_results": 50001})
    assert "Invalid entity type 'metrics'" in message({"filter": "metrics.a > 1"})
    assert "Invalid attribute 'run_name'" in message({"filter": "run_name = 'x'"})
    assert "page token" in message({"page_token": "%%%"})
    assert "OR" in message({"filter": "name = 'a' OR name = 'b'"})
