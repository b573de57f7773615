"""The model store conformance suite: logged models and the registry, on every backend."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from runbase.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from runbase.model_entities import (
    LoggedModelInput,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    ModelStage,
    RunModels,
)
from runbase.store import ModelStore, open_model_store
from runbase.store.models import LoggedModelOrder, Page, logged_model_order_clause
from runbase.store.sql import SqlModelStore, SqlStore

PROMPT = {"mlflow.prompt.is_prompt": "true"}


@pytest.fixture
def tracking(db_uri: str, tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(db_uri, artifact_root=(tmp_path / "artifacts").as_uri())
    yield store
    store.close()


@pytest.fixture
def models(tracking: SqlStore) -> ModelStore:
    return tracking.models


@pytest.fixture
def exp_id(tracking: SqlStore) -> str:
    return tracking.create_experiment("models")


@pytest.fixture
def run_id(tracking: SqlStore, exp_id: str) -> str:
    return tracking.create_run(exp_id, run_name="train").info.run_id


def _all(page: Page[object]) -> list[object]:
    assert page.next_page_token is None
    return page.items


def _count(tracking: SqlStore, table: str) -> int:
    engine = sa.create_engine(tracking.uri)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


# -- logged models -------------------------------------------------------------------------------
def test_create_logged_model(
    models: ModelStore, tracking: SqlStore, exp_id: str, run_id: str
) -> None:
    model = models.create_logged_model(
        exp_id,
        name="clf",
        source_run_id=run_id,
        model_type="sklearn",
        tags={"team": "vision"},
        params={"depth": "4"},
    )
    assert re.fullmatch(r"m-[0-9a-f]{32}", model.model_id)
    assert (model.experiment_id, model.name, model.status) == (
        exp_id,
        "clf",
        "LOGGED_MODEL_PENDING",
    )
    assert (model.model_type, model.source_run_id) == ("sklearn", run_id)
    assert (model.tags, model.params, model.metrics) == ({"team": "vision"}, {"depth": "4"}, [])
    location = tracking.get_experiment(exp_id).artifact_location
    assert model.artifact_location == f"{location}/models/{model.model_id}/artifacts"
    assert model.creation_timestamp_ms == model.last_updated_timestamp_ms > 0
    assert models.get_logged_model(model.model_id) == model
    unnamed = models.create_logged_model(exp_id)
    assert unnamed.name and unnamed.model_id != model.model_id


def test_create_logged_model_errors(models: ModelStore, tracking: SqlStore, exp_id: str) -> None:
    with pytest.raises(NotFoundError):
        models.create_logged_model("987654", name="m")
    with pytest.raises(InvalidInputError, match="cannot contain the following characters"):
        models.create_logged_model(exp_id, name="a/b")
    with pytest.raises(InvalidInputError, match="maximum length of 250"):
        models.create_logged_model(exp_id, name="m", tags={"k" * 251: "v"})
    tracking.delete_experiment(exp_id)
    with pytest.raises(InvalidInputError, match="must be in the 'active' state"):
        models.create_logged_model(exp_id, name="m")


@pytest.mark.parametrize(
    ("case", "field", "limit"),
    [
        ("logged_model", "model_type", 500),
        ("logged_model", "source_run_id", 32),
        ("metric", "dataset_name", 500),
        ("metric", "dataset_digest", 36),
        ("version", "run_id", 32),
        ("version", "model_id", 34),
        ("version", "user_id", 256),
    ],
)
def test_bounded_fields_are_checked(
    models: ModelStore, exp_id: str, run_id: str, case: str, field: str, limit: int
) -> None:
    """Too long for its column is a 400 on every backend, never a database error."""
    too_long: Any = "x" * (limit + 1)
    model_id = models.create_logged_model(exp_id, name="m").model_id
    models.create_registered_model("bounded")

    def write() -> object:
        if case == "logged_model":
            return models.create_logged_model(exp_id, name="m", **{field: too_long})
        if case == "metric":
            metric = LoggedModelMetric("acc", 1.0, 1, **{field: too_long})
            return models.log_logged_model_metrics(model_id, [metric])
        fields = {"run_id": run_id, field: too_long}
        return models.create_model_version("bounded", "s3://bucket/m", **fields)

    with pytest.raises(InvalidInputError, match=f"'{field}' exceeds the maximum length of {limit}"):
        write()


def test_unknown_logged_model(models: ModelStore) -> None:
    missing = "m-" + "0" * 32
    with pytest.raises(NotFoundError, match=f"Logged model with ID '{missing}' not found."):
        models.get_logged_model(missing)
    for call in (
        lambda: models.finalize_logged_model(missing, LoggedModelStatus.READY),
        lambda: models.delete_logged_model(missing),
        lambda: models.set_logged_model_tags(missing, {"a": "b"}),
        lambda: models.log_logged_model_params(missing, {"a": "b"}),
        lambda: models.log_logged_model_metrics(missing, [LoggedModelMetric("a", 1.0, 1)]),
    ):
        with pytest.raises(NotFoundError):
            call()


def test_finalize_logged_model(models: ModelStore, exp_id: str) -> None:
    model = models.create_logged_model(exp_id, name="m")
    ready = models.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    assert ready.status == "LOGGED_MODEL_READY"
    assert ready.last_updated_timestamp_ms >= model.last_updated_timestamp_ms
    failed = models.update_logged_model(
        model.model_id, status=LoggedModelStatus.UPLOAD_FAILED, status_message="disk full"
    )
    assert (failed.status, failed.status_message) == ("LOGGED_MODEL_UPLOAD_FAILED", "disk full")
    with pytest.raises(InvalidInputError, match="status"):
        models.finalize_logged_model(model.model_id, "DONE")


def test_logged_model_tags_and_params(models: ModelStore, exp_id: str) -> None:
    model_id = models.create_logged_model(exp_id, name="m").model_id
    models.set_logged_model_tags(model_id, {"a": "1", "b": "2"})
    models.set_logged_model_tags(model_id, {"a": "3"})
    models.delete_logged_model_tag(model_id, "b")
    with pytest.raises(NotFoundError, match="No tag with key 'b'"):
        models.delete_logged_model_tag(model_id, "b")
    models.log_logged_model_params(model_id, {"lr": "0.1", "depth": "4"})
    models.log_logged_model_params(model_id, {"lr": "0.1"})  # same value: fine
    with pytest.raises(InvalidInputError, match="Changing param values is not allowed"):
        models.log_logged_model_params(model_id, {"lr": "0.2", "new": "x"})
    model = models.get_logged_model(model_id)
    assert model.tags == {"a": "3"}
    assert model.params == {"depth": "4", "lr": "0.1"}  # the rejected call wrote nothing


def test_logged_model_metrics(models: ModelStore, exp_id: str, run_id: str) -> None:
    model_id = models.create_logged_model(exp_id, name="m").model_id
    models.log_logged_model_metrics(
        model_id,
        [
            LoggedModelMetric("acc", 0.9, 20, step=2, run_id=run_id, dataset_name="val"),
            LoggedModelMetric("acc", 0.8, 10, step=1),
            LoggedModelMetric("loss", math.nan, 10),
        ],
    )
    metrics = models.get_logged_model(model_id).metrics
    assert [(m.key, m.step) for m in metrics] == [("loss", 0), ("acc", 1), ("acc", 2)]
    assert math.isnan(metrics[0].value)
    assert metrics[2] == LoggedModelMetric("acc", 0.9, 20, 2, run_id, "val", None)
    # A retried request adds nothing; a point differing in any field is new.
    again = LoggedModelMetric("acc", 0.9, 20, step=2, run_id=run_id, dataset_name="val")
    models.log_logged_model_metrics(
        model_id, [again, again, LoggedModelMetric("loss", math.nan, 10)]
    )
    assert len(models.get_logged_model(model_id).metrics) == 3
    models.log_logged_model_metrics(model_id, [LoggedModelMetric("acc", 0.9, 20, step=2)])
    assert len(models.get_logged_model(model_id).metrics) == 4


def test_delete_logged_model_cascades(
    models: ModelStore, tracking: SqlStore, exp_id: str, run_id: str
) -> None:
    model_id = models.create_logged_model(
        exp_id, name="m", tags={"a": "1"}, params={"p": "1"}
    ).model_id
    models.log_logged_model_metrics(model_id, [LoggedModelMetric("acc", 1.0, 1)])
    models.log_outputs(run_id, [LoggedModelOutput(model_id, 3)])
    models.log_model_inputs(run_id, [LoggedModelInput(model_id)])
    models.delete_logged_model(model_id)
    with pytest.raises(NotFoundError):
        models.get_logged_model(model_id)
    assert models.get_run_models([run_id]) == {run_id: RunModels()}
    for table in ("logged_model_tags", "logged_model_params", "logged_model_metrics"):
        assert _count(tracking, table) == 0, table


# -- run ↔ model links ---------------------------------------------------------------------------
def test_run_outputs_and_inputs(
    models: ModelStore, tracking: SqlStore, exp_id: str, run_id: str
) -> None:
    first = models.create_logged_model(exp_id, name="a", source_run_id=run_id).model_id
    second = models.create_logged_model(exp_id, name="b").model_id
    models.log_outputs(run_id, [LoggedModelOutput(first, 0), LoggedModelOutput(second, 5)])
    models.log_outputs(run_id, [LoggedModelOutput(first, 7)])  # again: the step moves
    other = tracking.create_run(exp_id, run_name="eval").info.run_id
    models.log_model_inputs(other, [LoggedModelInput(first)])
    models.log_model_inputs(other, [LoggedModelInput(first)])  # again: a no-op
    assert sorted(models.get_run_outputs(run_id), key=lambda o: o.step) == [
        LoggedModelOutput(second, 5),
        LoggedModelOutput(first, 7),
    ]
    assert models.get_run_model_inputs(other) == [LoggedModelInput(first)]
    unknown = "f" * 32
    both = models.get_run_models([other, unknown])
    assert both == {other: RunModels(inputs=[LoggedModelInput(first)]), unknown: RunModels()}
    with pytest.raises(NotFoundError):
        models.log_outputs(run_id, [LoggedModelOutput("m-" + "0" * 32, 0)])
    with pytest.raises(NotFoundError, match="Run with id"):
        models.log_outputs(unknown, [LoggedModelOutput(first, 0)])
    tracking.delete_run(other)
    with pytest.raises(InvalidInputError, match="must be in the 'active' state"):
        models.log_model_inputs(other, [LoggedModelInput(second)])


def test_run_row_delete_cascades(
    models: ModelStore, tracking: SqlStore, exp_id: str, run_id: str
) -> None:
    model_id = models.create_logged_model(exp_id, name="m").model_id
    models.log_outputs(run_id, [LoggedModelOutput(model_id, 0)])
    engine = sa.create_engine(tracking.uri)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            pk = conn.execute(sa.text("SELECT id FROM runs WHERE run_uuid = :u"), {"u": run_id})
            run_pk = pk.scalar_one()
            conn.execute(sa.text("INSERT INTO ingest_batches VALUES ('b1', :r, 1)"), {"r": run_pk})
            for table in ("tags", "params", "metric_summaries", "metric_chunks", "run_inputs"):
                conn.execute(sa.text(f"DELETE FROM {table} WHERE run_id = :r"), {"r": run_pk})
            conn.execute(sa.text("DELETE FROM runs WHERE id = :r"), {"r": run_pk})
    finally:
        engine.dispose()
    assert _count(tracking, "run_outputs") == _count(tracking, "ingest_batches") == 0
    assert models.get_logged_model(model_id).model_id == model_id  # the model outlives its run


# -- logged model search -------------------------------------------------------------------------
@pytest.fixture
def catalog(models: ModelStore, tracking: SqlStore, exp_id: str, run_id: str) -> dict[str, str]:
    """Three models in ``exp_id`` and one in another experiment; name → model_id."""
    ids = {}
    for i, (name, kind) in enumerate((("alpha", "sklearn"), ("beta", "torch"), ("Gamma", "torch"))):
        model = models.create_logged_model(
            exp_id,
            name=name,
            model_type=kind,
            source_run_id=run_id if i < 2 else None,
            tags={"rank": str(i)},
            params={"depth": str(i + 2)},
        )
        models.log_logged_model_metrics(
            model.model_id,
            [
                LoggedModelMetric("acc", 0.5 + i / 10, 1, step=1, dataset_name="val"),
                LoggedModelMetric("acc", 0.1, 0, step=0, dataset_name="train"),
            ],
        )
        ids[name] = model.model_id
    models.finalize_logged_model(ids["beta"], LoggedModelStatus.READY)
    other = tracking.create_experiment("elsewhere")
    ids["other"] = models.create_logged_model(other, name="alpha").model_id
    return ids


def _names(page: Page[object]) -> list[str]:
    return [m.name for m in page.items]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ["Gamma", "beta", "alpha"]),
        ("name = 'alpha'", ["alpha"]),
        ("name LIKE 'a%'", ["alpha"]),
        ("name ILIKE 'g%'", ["Gamma"]),
        ("name IN ('alpha', 'Gamma')", ["Gamma", "alpha"]),
        ("model_type = 'torch'", ["Gamma", "beta"]),
        ("status = 'READY'", ["beta"]),
        ("status = 'LOGGED_MODEL_PENDING'", ["Gamma", "alpha"]),
        ("source_run_id != ''", ["beta", "alpha"]),
        ("creation_timestamp > 0 AND last_updated_timestamp > 0", ["Gamma", "beta", "alpha"]),
        ("params.depth = '3'", ["beta"]),
        ("params.depth != '3'", ["Gamma", "alpha"]),
        ("tags.rank LIKE '%2'", ["Gamma"]),
        ("metrics.acc > 0.55", ["Gamma", "beta"]),
        ("metrics.acc >= 0.5 AND params.depth = '2'", ["alpha"]),
        ("metrics.nope > 0", []),
    ],
)
def test_search_logged_models_filters(
    models: ModelStore,
    catalog: dict[str, str],
    exp_id: str,
    filter_string: str,
    expected: list[str],
) -> None:
    assert _names(models.search_logged_models([exp_id], filter_string)) == expected


def test_search_logged_models_ids_and_order(
    models: ModelStore, catalog: dict[str, str], exp_id: str
) -> None:
    page = models.search_logged_models([exp_id], f"model_id = '{catalog['beta']}'")
    assert [m.model_id for m in page.items] == [catalog["beta"]]
    both = models.search_logged_models(
        [exp_id, models.get_logged_model(catalog["other"]).experiment_id]
    )
    assert len(both.items) == 4
    assert models.search_logged_models([]).items == []
    assert _names(models.search_logged_models([exp_id], order_by=["name ASC"])) == [
        "Gamma",
        "alpha",
        "beta",
    ]
    by_acc = models.search_logged_models(
        [exp_id], order_by=[logged_model_order_clause("metrics.acc", False)]
    )
    assert _names(by_acc) == ["Gamma", "beta", "alpha"]
    # MLflow's structured items: a metric orders by its latest value on the item's dataset.
    on_val = LoggedModelOrder("metrics.acc", ascending=True, dataset_name="val")
    assert _names(models.search_logged_models([exp_id], order_by=[on_val])) == [
        "alpha",
        "beta",
        "Gamma",
    ]
    by_train = LoggedModelOrder("metrics.acc", False, "train", "no-such-digest")
    assert _names(models.search_logged_models([exp_id], order_by=[by_train, "name"])) == [
        "Gamma",
        "alpha",
        "beta",
    ]  # no value on that digest for anyone: the next key decides
    assert _names(
        models.search_logged_models([exp_id], order_by=[LoggedModelOrder("name", False)])
    ) == ["beta", "alpha", "Gamma"]
    with pytest.raises(InvalidInputError, match="may only be set for a metric"):
        models.search_logged_models([exp_id], order_by=[LoggedModelOrder("name", True, "val")])
    with pytest.raises(InvalidInputError, match="params"):
        models.search_logged_models([exp_id], order_by=[LoggedModelOrder("params.depth")])
    on_train = models.search_logged_models(
        [exp_id], "metrics.acc < 0.2", datasets=[("train", None)]
    )
    assert _names(on_train) == ["Gamma", "beta", "alpha"]
    assert _names(models.search_logged_models([exp_id], datasets=[("test", None)])) == []


def test_search_logged_models_paging(
    models: ModelStore, catalog: dict[str, str], exp_id: str
) -> None:
    seen: list[str] = []
    token = None
    while True:
        page = models.search_logged_models([exp_id], max_results=2, page_token=token)
        seen += _names(page)
        if page.next_page_token is None:
            break
        token = page.next_page_token
    assert seen == ["Gamma", "beta", "alpha"]
    first = models.search_logged_models([exp_id], max_results=2)
    assert first.next_page_token is not None
    with pytest.raises(InvalidInputError, match="another search"):
        models.search_logged_models([exp_id], "name = 'x'", page_token=first.next_page_token)
    with pytest.raises(InvalidInputError, match="page token"):
        models.search_logged_models([exp_id], page_token="garbage!")


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("run_id = 'x'", "Invalid attribute 'run_id'"),
        ("params.a IS NULL", "comparator IS NULL cannot be used"),
        ("datasets.name = 'x'", "Invalid entity type 'datasets'"),
        ("name = 'a' OR name = 'b'", "OR is not supported"),
    ],
)
def test_search_logged_models_bad_filters(
    models: ModelStore, exp_id: str, filter_string: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        models.search_logged_models([exp_id], filter_string)


# -- registered models ---------------------------------------------------------------------------
def test_create_and_get_registered_model(models: ModelStore) -> None:
    created = models.create_registered_model("digits", tags={"team": "vision"}, description="d")
    assert (created.name, created.description, created.tags) == ("digits", "d", {"team": "vision"})
    assert (created.aliases, created.latest_versions) == ({}, [])
    assert created.creation_timestamp == created.last_updated_timestamp > 0
    assert models.get_registered_model("digits") == created
    with pytest.raises(
        AlreadyExistsError, match=r"Registered Model \(name=digits\) already exists"
    ):
        models.create_registered_model("digits")
    with pytest.raises(NotFoundError, match="Registered Model with name=nope not found"):
        models.get_registered_model("nope")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Missing value for required parameter 'name'"),
        ("  ", "Missing value"),
        ("a/b", "Names cannot contain '/' or ':'"),
        ("a:b", "Names cannot contain '/' or ':'"),
        ("..", "must not resolve to other names"),
        ("x" * 257, "maximum length of 256"),
    ],
)
def test_bad_registered_model_names(models: ModelStore, name: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        models.create_registered_model(name)


def test_registry_tag_limits(models: ModelStore) -> None:
    models.create_registered_model("m", tags={"k": "v" * 100_000})
    with pytest.raises(InvalidInputError, match="'value' exceeds the maximum length of 100000"):
        models.set_registered_model_tag("m", "k", "v" * 100_001)
    with pytest.raises(InvalidInputError, match="maximum length of 250"):
        models.set_registered_model_tag("m", "k" * 251, "v")
    with pytest.raises(InvalidInputError):
        models.create_registered_model("n", tags={"k": "v" * 100_001})
    with pytest.raises(NotFoundError):
        models.get_registered_model("n")  # nothing was written


def test_registered_model_tags(models: ModelStore) -> None:
    models.create_registered_model("m")
    models.set_registered_model_tag("m", "a", "1")
    models.set_registered_model_tag("m", "a", "2")
    models.set_registered_model_tag("m", "b", "3")
    models.delete_registered_model_tag("m", "b")
    models.delete_registered_model_tag("m", "absent")  # a no-op, as in MLflow
    assert models.get_registered_model("m").tags == {"a": "2"}
    with pytest.raises(NotFoundError):
        models.set_registered_model_tag("nope", "a", "1")


def test_rename_and_describe_registered_model(models: ModelStore) -> None:
    models.create_registered_model("old")
    models.create_model_version("old", "file:///m/1")
    renamed = models.rename_registered_model("old", "new")
    assert renamed.name == "new"
    assert [v.name for v in renamed.latest_versions] == ["new"]
    assert models.get_model_version("new", 1).name == "new"
    with pytest.raises(NotFoundError):
        models.get_registered_model("old")
    models.create_registered_model("taken")
    with pytest.raises(AlreadyExistsError, match=r"Registered Model \(name=taken\) already exists"):
        models.rename_registered_model("new", "taken")
    with pytest.raises(InvalidInputError, match="'new_name'"):
        models.rename_registered_model("new", "")
    described = models.update_registered_model_description("new", "better")
    assert described.description == "better"
    assert described.last_updated_timestamp >= renamed.last_updated_timestamp


def test_delete_registered_model_cascades(models: ModelStore, tracking: SqlStore) -> None:
    models.create_registered_model("m", tags={"a": "1"})
    models.create_model_version("m", "file:///m/1", tags={"b": "2"})
    models.set_registered_model_alias("m", "champion", 1)
    models.delete_registered_model("m")
    with pytest.raises(NotFoundError):
        models.get_registered_model("m")
    with pytest.raises(
        NotFoundError, match=re.escape("Model Version (name=m, version=1) not found")
    ):
        models.get_model_version("m", 1)
    for table in (
        "registered_model_tags",
        "model_versions",
        "model_version_tags",
        "registered_model_aliases",
    ):
        assert _count(tracking, table) == 0, table
    models.create_registered_model("m")  # the name is free again, numbering restarts
    assert models.create_model_version("m", "file:///m/1").version == 1


# -- registered model search ---------------------------------------------------------------------
@pytest.fixture
def registry(models: ModelStore) -> None:
    for name, tags in (
        ("alpha", {"team": "a"}),
        ("beta", {"team": "b"}),
        ("Gamma", {"team": "a"}),
        ("prompt-1", PROMPT),
    ):
        models.create_registered_model(name, tags=tags)
        models.create_model_version(name, f"file:///{name}/1")


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ["Gamma", "alpha", "beta"]),
        ("name = 'beta'", ["beta"]),
        ("name != 'beta'", ["Gamma", "alpha"]),
        ("name LIKE '%a'", ["Gamma", "alpha", "beta"]),
        ("name LIKE 'g%'", []),
        ("name ILIKE 'g%'", ["Gamma"]),
        ("name IN ('alpha', 'beta', 'zeta')", ["alpha", "beta"]),
        ("name NOT IN ('alpha')", ["Gamma", "beta"]),
        ("tags.team = 'a'", ["Gamma", "alpha"]),
        ("tag.team = 'a' AND name LIKE 'a%'", ["alpha"]),
        ("tags.`mlflow.prompt.is_prompt` != 'true'", ["Gamma", "alpha", "beta"]),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", ["prompt-1"]),
    ],
)
def test_search_registered_models(
    models: ModelStore, registry: None, filter_string: str | None, expected: list[str]
) -> None:
    assert _names(models.search_registered_models(filter_string)) == expected


def test_search_registered_models_order_and_paging(models: ModelStore, registry: None) -> None:
    assert _names(models.search_registered_models(order_by=["name DESC"])) == [
        "beta",
        "alpha",
        "Gamma",
    ]
    models.update_registered_model_description("alpha", "touched")
    assert _names(models.search_registered_models(order_by=["timestamp DESC"]))[0] == "alpha"
    newest = models.search_registered_models(order_by=["last_updated_timestamp DESC"])
    assert _names(newest)[0] == "alpha"
    assert _names(models.search_registered_models(order_by=["creation_timestamp ASC"])) == [
        "alpha",
        "beta",
        "Gamma",
    ]
    first = models.search_registered_models(max_results=2)
    assert _names(first) == ["Gamma", "alpha"]
    rest = models.search_registered_models(max_results=2, page_token=first.next_page_token)
    assert (_names(rest), rest.next_page_token) == (["beta"], None)
    with pytest.raises(InvalidInputError, match="duplicate fields"):
        models.search_registered_models(order_by=["name", "name DESC"])
    with pytest.raises(InvalidInputError, match="at most 1000, but got value 1001"):
        models.search_registered_models(max_results=1001)
    with pytest.raises(InvalidInputError, match="Invalid attribute 'run_id'"):
        models.search_registered_models("run_id = 'x'")
    with pytest.raises(InvalidInputError, match="Invalid entity type 'params'"):
        models.search_registered_models("params.a = 'x'")


# -- aliases -------------------------------------------------------------------------------------
def test_aliases(models: ModelStore) -> None:
    models.create_registered_model("m")
    for i in range(3):
        models.create_model_version("m", f"file:///m/{i}")
    models.set_registered_model_alias("m", "champion", 1)
    models.set_registered_model_alias("m", "champion", "2")  # moves
    models.set_registered_model_alias("m", "challenger-2", 3)
    assert models.get_registered_model("m").aliases == {"challenger-2": 3, "champion": 2}
    assert models.get_model_version("m", 2).aliases == ["champion"]
    assert models.get_model_version_by_alias("m", "champion").version == 2
    assert models.get_model_version_by_alias("m", "latest").version == 3
    assert models.get_model_version_by_alias("m", "LATEST").version == 3
    with pytest.raises(InvalidInputError, match=r"Registered model alias nope not found\."):
        models.get_model_version_by_alias("m", "nope")
    models.delete_model_version("m", 3)  # takes its alias along
    assert models.get_registered_model("m").aliases == {"champion": 2}
    models.delete_registered_model_alias("m", "champion")
    models.delete_registered_model_alias("m", "champion")  # absent: a no-op
    assert models.get_registered_model("m").aliases == {}
    with pytest.raises(
        NotFoundError, match=re.escape("Model Version (name=m, version=9) not found")
    ):
        models.set_registered_model_alias("m", "a", 9)
    with pytest.raises(NotFoundError):
        models.delete_registered_model_alias("nope", "a")
    models.create_registered_model("empty")
    with pytest.raises(NotFoundError, match=r"Latest version not found for model empty\."):
        models.get_model_version_by_alias("empty", "latest")


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("latest", "'latest' alias name (case insensitive) is reserved."),
        ("Latest", "is reserved"),
        ("v1", "Version alias name 'v1' is reserved."),
        ("V12", "is reserved"),
        ("a.b", "Invalid alias name: 'a.b'. Names may only contain alphanumerics"),
        ("a b", "Invalid alias name"),
        ("", "Registered model alias name cannot be empty."),
        ("a" * 256, "exceeds the maximum length of 255"),
    ],
)
def test_bad_aliases(models: ModelStore, alias: str, message: str) -> None:
    models.create_registered_model("m")
    models.create_model_version("m", "file:///m")
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        models.set_registered_model_alias("m", alias, 1)


def test_alias_edge_names_are_allowed(models: ModelStore) -> None:
    models.create_registered_model("m")
    models.create_model_version("m", "file:///m")
    for alias in ("a" * 255, "v1x", "version1", "-_-"):
        models.set_registered_model_alias("m", alias, 1)
    assert len(models.get_registered_model("m").aliases) == 4


# -- model versions ------------------------------------------------------------------------------
def test_version_numbers_are_never_reused(models: ModelStore) -> None:
    models.create_registered_model("m")
    created = [models.create_model_version("m", f"file:///m/{i}") for i in range(3)]
    assert [v.version for v in created] == [1, 2, 3]
    assert all(v.status == "READY" and v.current_stage == "None" for v in created)
    models.delete_model_version("m", 3)
    assert models.create_model_version("m", "file:///m/again").version == 4
    models.create_registered_model("other")
    assert models.create_model_version("other", "file:///o").version == 1  # numbering per model


def test_concurrent_version_numbers(models: ModelStore) -> None:
    models.create_registered_model("m")
    numbers: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            for _ in range(3):
                numbers.append(models.create_model_version("m", "file:///m").version)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 19))


def test_create_model_version_fields(models: ModelStore, run_id: str) -> None:
    models.create_registered_model("m")
    before = models.get_registered_model("m").last_updated_timestamp
    version = models.create_model_version(
        "m",
        "s3://bucket/model",
        run_id=run_id,
        tags={"k": "v"},
        run_link="http://x",
        description="first",
        user_id="ana",
    )
    assert (version.name, version.version, version.source, version.run_id) == (
        "m",
        1,
        "s3://bucket/model",
        run_id,
    )
    assert (version.tags, version.run_link, version.description, version.user_id) == (
        {"k": "v"},
        "http://x",
        "first",
        "ana",
    )
    assert version.creation_timestamp == version.last_updated_timestamp
    assert models.get_registered_model("m").last_updated_timestamp >= before
    assert models.get_model_version_download_uri("m", 1) == "s3://bucket/model"
    with pytest.raises(NotFoundError, match="Registered Model with name=nope not found"):
        models.create_model_version("nope", "file:///x")
    with pytest.raises(InvalidInputError, match="'source'"):
        models.create_model_version("m", "")


def test_download_uri_resolves_sources(
    models: ModelStore, tracking: SqlStore, exp_id: str, run_id: str
) -> None:
    logged = models.create_logged_model(exp_id, name="model", source_run_id=run_id)
    models.create_registered_model("m")
    from_model = models.create_model_version("m", f"models:/{logged.model_id}")
    assert (from_model.run_id, from_model.model_id) == (run_id, logged.model_id)
    assert models.get_model_version_download_uri("m", 1) == logged.artifact_location
    from_run = models.create_model_version("m", f"runs:/{run_id}/model")
    artifact_uri = tracking.get_run(run_id).info.artifact_uri
    assert models.get_model_version_download_uri("m", 2) == f"{artifact_uri}/model"
    assert from_run.run_id == run_id
    models.create_model_version("m", "models:/m/1")
    assert models.get_model_version_download_uri("m", 3) == logged.artifact_location
    models.set_registered_model_alias("m", "prod", 2)
    models.create_model_version("m", "models:/m@prod")
    assert models.get_model_version_download_uri("m", 4) == f"{artifact_uri}/model"
    with_id = models.create_model_version("m", "file:///elsewhere", model_id=logged.model_id)
    assert (with_id.run_id, with_id.model_id) == (run_id, logged.model_id)
    for bad in (f"models:/m-{'0' * 32}", f"runs:/{'0' * 32}/model", "models:/m/99"):
        with pytest.raises(InvalidInputError, match="Unable to fetch model from model URI"):
            models.create_model_version("m", bad)
    with pytest.raises(NotFoundError):
        models.get_model_version_download_uri("m", 99)


def test_get_model_version_errors(models: ModelStore) -> None:
    models.create_registered_model("m")
    with pytest.raises(
        NotFoundError, match=re.escape("Model Version (name=m, version=1) not found")
    ):
        models.get_model_version("m", 1)
    with pytest.raises(InvalidInputError, match="Parameter 'version' must be an integer, got 'x'"):
        models.get_model_version("m", "x")
    with pytest.raises(NotFoundError):
        models.get_model_version("m", 2**40)


def test_update_model_version_and_tags(models: ModelStore) -> None:
    models.create_registered_model("m")
    models.create_model_version("m", "file:///m")
    updated = models.update_model_version_description("m", 1, "better")
    assert updated.description == "better"
    models.set_model_version_tag("m", 1, "a", "1")
    models.set_model_version_tag("m", "1", "a", "2")
    models.set_model_version_tag("m", 1, "b", "3")
    models.delete_model_version_tag("m", 1, "b")
    models.delete_model_version_tag("m", 1, "absent")
    assert models.get_model_version("m", 1).tags == {"a": "2"}
    with pytest.raises(NotFoundError):
        models.set_model_version_tag("m", 2, "a", "1")
    with pytest.raises(InvalidInputError, match="100000"):
        models.set_model_version_tag("m", 1, "a", "x" * 100_001)


def test_stage_transitions(models: ModelStore) -> None:
    models.create_registered_model("m")
    for i in range(4):
        models.create_model_version("m", f"file:///m/{i}")
    assert models.transition_model_version_stage("m", 1, "production").current_stage == "Production"
    models.transition_model_version_stage("m", 2, "Production")
    models.transition_model_version_stage("m", 3, "STAGING")
    stages = {v.version: v.current_stage for v in models.search_model_versions("name = 'm'").items}
    assert stages == {1: "Production", 2: "Production", 3: "Staging", 4: "None"}
    latest = models.get_latest_versions("m")
    assert [(v.current_stage, v.version) for v in latest] == [
        ("None", 4),
        ("Staging", 3),
        ("Production", 2),
    ]
    assert [v.version for v in models.get_latest_versions("m", ["production"])] == [2]
    assert models.get_registered_model("m").latest_versions == latest
    moved = models.transition_model_version_stage(
        "m", 4, "Production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    stages = {v.version: v.current_stage for v in models.search_model_versions("name = 'm'").items}
    assert stages == {1: "Archived", 2: "Archived", 3: "Staging", 4: "Production"}
    with pytest.raises(InvalidInputError, match="Invalid Model Version stage: Prod"):
        models.transition_model_version_stage("m", 1, "Prod")
    with pytest.raises(InvalidInputError, match="'None' is not an Active stage"):
        models.transition_model_version_stage("m", 1, "None", archive_existing_versions=True)
    with pytest.raises(InvalidInputError, match="Invalid Model Version stage"):
        models.get_latest_versions("m", ["Nope"])
    assert ModelStage.canonical("archived") == "Archived"


# -- model version search ------------------------------------------------------------------------
@pytest.fixture
def versions(models: ModelStore, tracking: SqlStore) -> dict[str, str]:
    """Model "a" has versions 1-3, "b" has 1; prompt "p" has 1. Returns the two run ids."""
    runs = {name: tracking.create_run("0", run_name=name).info.run_id for name in ("r1", "r2")}
    models.create_registered_model("a")
    models.create_registered_model("b")
    models.create_registered_model("p", tags=PROMPT)
    models.create_model_version("a", "s3://x/a1", run_id=runs["r1"], tags={"t": "x"})
    models.create_model_version("a", "s3://x/a2", run_id=runs["r2"])
    models.create_model_version("a", "file:///a3", run_id=runs["r1"], tags={"t": "y"})
    models.create_model_version("b", "s3://x/b1", run_id=runs["r2"])
    models.create_model_version("p", "file:///p1", tags=PROMPT)
    return runs


def _versions(page: Page[object]) -> list[tuple[str, int]]:
    return [(v.name, v.version) for v in page.items]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'a'", [("a", 3), ("a", 2), ("a", 1)]),
        ("name IN ('a', 'b') AND version_number = 1", [("a", 1), ("b", 1)]),
        ("version_number >= 2", [("a", 3), ("a", 2)]),
        ("version_number = 99999999999", []),  # beyond the column: no match, no overflow
        ("version_number < 1e30 AND name = 'b'", [("b", 1)]),
        ("source_path LIKE 's3://%' AND name != 'b'", [("a", 2), ("a", 1)]),
        ("source_path = 'file:///a3'", [("a", 3)]),
        ("tags.t = 'x'", [("a", 1)]),
        ("tags.t ILIKE 'Y'", [("a", 3)]),
        ("tags.`mlflow.prompt.is_prompt` = 'true'", [("p", 1)]),
    ],
)
def test_search_model_versions(
    models: ModelStore,
    versions: dict[str, str],
    filter_string: str,
    expected: list[tuple[str, int]],
) -> None:
    found = models.search_model_versions(filter_string, order_by=["name", "version_number DESC"])
    assert _versions(found) == expected


def test_search_model_versions_runs_order_paging(
    models: ModelStore, versions: dict[str, str]
) -> None:
    found = models.search_model_versions(f"run_id IN ('{versions['r1']}')")
    assert sorted(_versions(found)) == [("a", 1), ("a", 3)]
    found = models.search_model_versions(f"run_id = '{versions['r2']}'", order_by=["name DESC"])
    assert _versions(found) == [("b", 1), ("a", 2)]
    # Default order: last updated first, then name, then version descending.
    models.update_model_version_description("a", 1, "touched")
    assert _versions(models.search_model_versions())[0] == ("a", 1)
    assert len(models.search_model_versions().items) == 4  # the prompt is left out
    pages: list[tuple[str, int]] = []
    token = None
    while True:
        page = models.search_model_versions(
            max_results=3, order_by=["version_number ASC", "name"], page_token=token
        )
        pages += _versions(page)
        token = page.next_page_token
        if token is None:
            break
    assert pages == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
    with pytest.raises(InvalidInputError, match="at most 200000"):
        models.search_model_versions(max_results=200_001)
    with pytest.raises(InvalidInputError, match="positive integer"):
        models.search_model_versions(max_results=0)
    with pytest.raises(InvalidInputError, match="numeric attribute 'version_number'"):
        models.search_model_versions("version_number = 1.5")
    with pytest.raises(InvalidInputError, match="comparator IN cannot be used"):
        models.search_model_versions("source_path IN ('x')")
    with pytest.raises(InvalidInputError, match="Invalid attribute 'run_id'"):
        models.search_model_versions(order_by=["run_id"])


# -- opening -------------------------------------------------------------------------------------
def test_open_model_store_shares_the_database(models: ModelStore, db_uri: str) -> None:
    models.create_registered_model("shared")
    standalone = open_model_store(db_uri)
    try:
        assert isinstance(standalone, SqlModelStore)
        assert standalone.get_registered_model("shared").name == "shared"
    finally:
        standalone.close()
    with pytest.raises(InvalidInputError, match="runbase server"):
        open_model_store("http://localhost:5000")
