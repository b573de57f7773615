"""The store conformance suite: every backend must pass all of it."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from runbase.entities import (
    CONTEXT_TAG,
    Dataset,
    DatasetInput,
    Metric,
    Param,
    RunStatus,
    RunTag,
    ViewType,
)
from runbase.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from runbase.store import MetricColumns, Store
from runbase.store.sql._schema import CHUNK_POINTS


def _cols(steps: list[int], values: list[float], stamp: int = 1000) -> MetricColumns:
    return MetricColumns.from_lists(steps, [stamp + s for s in steps], values)


# -- experiments ---------------------------------------------------------------------------------
def test_default_experiment_exists(store: Store) -> None:
    default = store.get_experiment("0")
    assert default.name == "Default"
    assert store.get_experiment_by_name("Default") == default


def test_create_and_get_experiment(store: Store) -> None:
    exp_id = store.create_experiment("digits", tags={"team": "vision"})
    exp = store.get_experiment(exp_id)
    assert (exp.name, exp.lifecycle_stage, exp.tags) == ("digits", "active", {"team": "vision"})
    assert exp.artifact_location.endswith(f"/{exp_id}")
    assert store.get_experiment_id("digits") == exp_id
    assert store.get_experiment_by_name("nope") is None


def test_duplicate_experiment_name(store: Store) -> None:
    store.create_experiment("dup")
    with pytest.raises(AlreadyExistsError, match="dup"):
        store.create_experiment("dup")


def test_unknown_experiment(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_experiment("987654")
    with pytest.raises(InvalidInputError, match="decimal"):
        store.get_experiment("abc")


def test_delete_and_restore_experiment(store: Store) -> None:
    exp_id = store.create_experiment("gone")
    run = store.create_run(exp_id, run_name="r")
    store.delete_experiment(exp_id)
    assert store.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert exp_id not in {e.experiment_id for e in store.search_experiments()}
    assert exp_id in {e.experiment_id for e in store.search_experiments(ViewType.DELETED_ONLY)}
    assert store.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidInputError, match="active"):
        store.create_run(exp_id, run_name="late")
    store.restore_experiment(exp_id)
    assert store.get_run(run.info.run_id).info.lifecycle_stage == "active"
    with pytest.raises(InvalidInputError):
        store.delete_experiment("0")


def test_rename_experiment(store: Store) -> None:
    exp_id = store.create_experiment("old-name")
    before = store.get_experiment(exp_id)
    store.rename_experiment(exp_id, "new-name")
    renamed = store.get_experiment(exp_id)
    assert renamed.name == "new-name"
    assert renamed.last_update_time >= before.last_update_time
    assert store.get_experiment_by_name("old-name") is None
    store.rename_experiment(exp_id, "new-name")  # to its own name: nothing changes
    store.create_experiment("taken")
    with pytest.raises(AlreadyExistsError, match="taken"):
        store.rename_experiment(exp_id, "taken")
    with pytest.raises(NotFoundError):
        store.rename_experiment("987654", "x")
    with pytest.raises(InvalidInputError):
        store.rename_experiment(exp_id, "")
    store.delete_experiment(exp_id)
    with pytest.raises(InvalidInputError, match="non-active"):
        store.rename_experiment(exp_id, "while-deleted")


def test_experiment_tag(store: Store) -> None:
    exp_id = store.create_experiment("tagged")
    store.set_experiment_tag(exp_id, "k", "v1")
    store.set_experiment_tag(exp_id, "k", "v2")
    assert store.get_experiment(exp_id).tags == {"k": "v2"}


# -- runs ----------------------------------------------------------------------------------------
def test_create_run(store: Store) -> None:
    run = store.create_run(
        "0", run_name="brave-otter", user_id="ana", start_time=123, tags={"a": "1"}
    )
    info = run.info
    assert len(info.run_id) == 32 and int(info.run_id, 16) >= 0
    assert (info.run_name, info.user_id, info.status, info.start_time) == (
        "brave-otter",
        "ana",
        RunStatus.RUNNING,
        123,
    )
    assert info.artifact_uri.endswith(f"/0/{info.run_id}/artifacts")
    fetched = store.get_run(info.run_id)
    assert fetched.info == info
    assert fetched.data.tags == {"a": "1", "mlflow.runName": "brave-otter"}


def test_unknown_run(store: Store) -> None:
    with pytest.raises(NotFoundError, match="not found"):
        store.get_run("0" * 32)
    with pytest.raises(NotFoundError):
        store.log_batch("0" * 32, params=[Param("a", "1")])


def test_update_run(store: Store) -> None:
    run_id = store.create_run("0", run_name="old").info.run_id
    info = store.update_run(run_id, status=RunStatus.FINISHED, end_time=999, run_name="new")
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 999, "new")
    assert store.get_run(run_id).data.tags["mlflow.runName"] == "new"
    with pytest.raises(InvalidInputError, match="status"):
        store.update_run(run_id, status="DONE")


def test_run_name_tag_renames(store: Store) -> None:
    run_id = store.create_run("0", run_name="a").info.run_id
    store.log_batch(run_id, tags=[RunTag("mlflow.runName", "b")])
    assert store.get_run(run_id).info.run_name == "b"


def test_deleted_run_rejects_logging(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.delete_run(run_id)
    assert store.get_run(run_id).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidInputError, match="must be in the 'active' state"):
        store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])
    store.restore_run(run_id)
    store.log_batch(run_id, metrics=[Metric("m", 1.0, 1, 0)])


def test_finished_run_accepts_logging(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.update_run(run_id, status=RunStatus.FINISHED, end_time=5)
    store.log_batch(run_id, metrics=[Metric("late", 2.0, 6, 1)])
    assert store.get_run(run_id).data.metrics == {"late": 2.0}


# -- params and tags -----------------------------------------------------------------------------
def test_params(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_batch(run_id, params=[Param("lr", "0.1"), Param("model.depth", "4")])
    store.log_batch(run_id, params=[Param("lr", "0.1")])  # same value: fine
    with pytest.raises(InvalidInputError, match=r"Changing param values is not allowed.*'lr'"):
        store.log_batch(run_id, params=[Param("lr", "0.2")])
    assert store.get_run(run_id).data.params == {"lr": "0.1", "model.depth": "4"}


def test_rejected_batch_writes_nothing(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_batch(run_id, params=[Param("lr", "0.1")])
    with pytest.raises(InvalidInputError):
        store.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0, 1, 0)],
            params=[Param("new", "x"), Param("lr", "0.5")],
            tags=[RunTag("t", "v")],
        )
    run = store.get_run(run_id)
    assert run.data.params == {"lr": "0.1"}
    assert run.data.metrics == {}
    assert "t" not in run.data.tags


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("x" * 251, "maximum length of 250"),
        ("bad$key", "may only contain"),
        ("../escape", "normalized"),
        ("", "must not be empty"),
    ],
)
def test_bad_keys(store: Store, key: str, message: str) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    for call in (
        lambda: store.log_batch(run_id, params=[Param(key, "v")]),
        lambda: store.log_batch(run_id, tags=[RunTag(key, "v")]),
        lambda: store.log_batch(run_id, metrics=[Metric(key, 1.0, 0, 0)]),
    ):
        with pytest.raises(InvalidInputError, match=message):
            call()


def test_value_limits(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_batch(run_id, params=[Param("ok", "x" * 6000)], tags=[RunTag("ok", "y" * 8000)])
    with pytest.raises(InvalidInputError, match="6000"):
        store.log_batch(run_id, params=[Param("long", "x" * 6001)])
    with pytest.raises(InvalidInputError, match="8000"):
        store.log_batch(run_id, tags=[RunTag("long", "x" * 8001)])


def test_duplicate_param_keys_in_one_batch(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    with pytest.raises(InvalidInputError, match="Duplicate"):
        store.log_batch(run_id, params=[Param("dup", "1"), Param("dup", "2")])
    store.log_batch(run_id, params=[Param("same", "1"), Param("same", "1")])


def test_tags_overwrite_and_delete(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_batch(run_id, tags=[RunTag("k", "1")])
    store.log_batch(run_id, tags=[RunTag("k", "2")])
    assert store.get_run(run_id).data.tags["k"] == "2"
    store.delete_tag(run_id, "k")
    assert "k" not in store.get_run(run_id).data.tags
    with pytest.raises(NotFoundError):
        store.delete_tag(run_id, "k")


# -- metrics -------------------------------------------------------------------------------------
def test_metric_history_and_summary(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_batch(run_id, [Metric("loss", 3.0 - s, 100 + s, s) for s in range(3)])
    history = store.get_metric_history(run_id, "loss")
    assert history == [
        Metric("loss", 3.0, 100, 0),
        Metric("loss", 2.0, 101, 1),
        Metric("loss", 1.0, 102, 2),
    ]
    summary = store.get_run(run_id).data.summaries["loss"]
    assert (summary.last, summary.last_step, summary.min, summary.max, summary.count) == (
        1.0,
        2,
        1.0,
        3.0,
        3,
    )
    assert store.get_metric_history(run_id, "never-logged") == []


def test_nan_and_infinities_round_trip(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    values = [math.nan, math.inf, -math.inf, 0.5]
    store.log_columns(run_id, {"m": _cols([0, 1, 2, 3], values)})
    got = store.get_metric_columns(run_id, "m").values
    assert math.isnan(got[0]) and got[1] == math.inf and got[2] == -math.inf and got[3] == 0.5
    summary = store.get_run(run_id).data.summaries["m"]
    assert (summary.min, summary.max, summary.last) == (-math.inf, math.inf, 0.5)
    store.log_columns(run_id, {"m": _cols([4], [math.nan])})
    run = store.get_run(run_id)
    assert math.isnan(run.data.metrics["m"])
    store.log_columns(run_id, {"all_nan": _cols([0], [math.nan])})
    all_nan = store.get_run(run_id).data.summaries["all_nan"]
    assert all_nan.min is None and all_nan.max is None and math.isnan(all_nan.last)


def test_latest_is_highest_step_not_last_written(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_columns(run_id, {"m": _cols([10], [10.0])})
    store.log_columns(run_id, {"m": _cols([5], [5.0])})
    assert store.get_run(run_id).data.metrics["m"] == 10.0
    assert store.get_metric_columns(run_id, "m").steps.tolist() == [5, 10]


def test_long_series_across_chunks(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    rng = np.random.default_rng(0)
    total = 0
    pieces = []
    for size in (1, 7, CHUNK_POINTS - 3, 5, 3 * CHUNK_POINTS + 11, 2):
        steps = np.arange(total, total + size)
        values = rng.normal(size=size)
        store.log_columns(run_id, {"x": MetricColumns(steps, steps * 2, values)})
        pieces.append(values)
        total += size
    cols = store.get_metric_columns(run_id, "x")
    assert cols.steps.tolist() == list(range(total))
    np.testing.assert_array_equal(cols.values, np.concatenate(pieces))
    np.testing.assert_array_equal(cols.timestamps, cols.steps * 2)
    summary = store.get_run(run_id).data.summaries["x"]
    assert summary.count == total and summary.last_step == total - 1
    assert summary.max == pytest.approx(np.concatenate(pieces).max())


def test_metric_window_reads_the_points_between_two_steps(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    steps = np.arange(3 * CHUNK_POINTS + 100)
    store.log_columns(run_id, {"x": MetricColumns(steps, steps * 2, steps * 0.5)})
    lo, hi = CHUNK_POINTS - 10, 2 * CHUNK_POINTS + 5  # across three chunks
    part = store.get_metric_window(run_id, "x", lo, hi)
    assert part.steps.tolist() == list(range(lo, hi + 1))
    np.testing.assert_array_equal(part.timestamps, part.steps * 2)
    np.testing.assert_array_equal(part.values, part.steps * 0.5)
    assert store.get_metric_window(run_id, "x", None, 3).steps.tolist() == [0, 1, 2, 3]
    assert len(store.get_metric_window(run_id, "x", 10**9, None)) == 0
    assert len(store.get_metric_window(run_id, "y")) == 0
    drawn = store.get_metric_window(run_id, "x", lo, hi, timestamps=False)
    np.testing.assert_array_equal(drawn.steps, part.steps)
    np.testing.assert_array_equal(drawn.values, part.values)
    with pytest.raises(NotFoundError):
        store.get_metric_window("0" * 32, "x")


def test_metric_window_orders_points_logged_out_of_order(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_batch(run_id, [Metric("m", 3.0, 30, 3), Metric("m", 1.0, 12, 1)])
    store.log_batch(run_id, [Metric("m", 0.5, 11, 1), Metric("m", 2.0, 20, 2)])
    for timestamps in (True, False):
        cols = store.get_metric_window(run_id, "m", 1, 2, timestamps=timestamps)
        assert cols.steps.tolist() == [1, 1, 2] and cols.values.tolist() == [0.5, 1.0, 2.0]
    assert store.get_metric_window(run_id, "m", 1, 2).timestamps.tolist() == [11, 12, 20]


def test_retried_batch_is_not_duplicated(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    batch = [Metric("m", float(s), 50 + s, s) for s in range(4)]
    store.log_batch(run_id, batch)
    store.log_batch(run_id, batch)
    assert store.get_metric_history(run_id, "m") == batch


def test_same_step_different_values_are_kept(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_batch(run_id, [Metric("m", 1.0, 10, 0), Metric("m", 2.0, 10, 0)])
    assert sorted(m.value for m in store.get_metric_history(run_id, "m")) == [1.0, 2.0]


def test_concurrent_writers_on_one_series(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for i in range(20):
                base = offset * 10_000 + i * 100
                steps = np.arange(base, base + 100)
                store.log_columns(run_id, {"shared": MetricColumns(steps, steps, steps * 1.0)})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    cols = store.get_metric_columns(run_id, "shared")
    assert len(cols) == 4 * 20 * 100
    assert len(set(cols.steps.tolist())) == 8000
    assert store.get_run(run_id).data.summaries["shared"].count == 8000


def test_metric_value_must_be_finite_shape(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    bad = MetricColumns(np.arange(3), np.arange(2), np.zeros(3))
    with pytest.raises(InvalidInputError, match="one length"):
        store.log_columns(run_id, {"m": bad})


# -- datasets ------------------------------------------------------------------------------------
def test_log_inputs(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    digits = Dataset(
        "digits", "f94e5e59", "local", "/data/digits", '{"cols": 64}', '{"rows": 1797}'
    )
    store.log_inputs(run_id, [DatasetInput(digits, {CONTEXT_TAG: "training"})])
    store.log_inputs(run_id, [DatasetInput(digits, {CONTEXT_TAG: "training"})])  # no-op
    store.log_inputs(run_id, [DatasetInput(digits, {CONTEXT_TAG: "validation"})])
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert [i.context for i in inputs] == ["training", "validation"]
    assert inputs[0].dataset == digits
    with pytest.raises(InvalidInputError, match="digest"):
        store.log_inputs(run_id, [DatasetInput(Dataset("x", "d" * 40, "local", "/x"))])
