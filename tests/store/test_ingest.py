"""Idempotent ingest through the store contract: batch ids and ``Store.ingest``."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest

from runbase.entities import Param, RunTag
from runbase.errors import InvalidInputError, NotFoundError
from runbase.store import MetricColumns, RunWrite, Store


def _cols(start: int, n: int) -> MetricColumns:
    steps = np.arange(start, start + n)
    return MetricColumns(steps, steps + 1000, steps * 0.5)


def test_same_batch_id_is_stored_once(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    for _ in range(3):
        store.log_columns(
            run_id,
            {"m": _cols(0, 10)},
            params=[Param("p", "1")],
            tags=[RunTag("t", "x")],
            batch_id="b-1",
        )
    assert len(store.get_metric_columns(run_id, "m")) == 10
    run = store.get_run(run_id)
    assert run.data.summaries["m"].count == 10
    assert (run.data.params, run.data.tags["t"]) == ({"p": "1"}, "x")


def test_a_recorded_batch_is_ignored_even_with_other_content(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_columns(run_id, {"m": _cols(0, 5)}, batch_id="same")
    store.log_columns(run_id, {"m": _cols(100, 5)}, tags=[RunTag("t", "y")], batch_id="same")
    assert store.get_metric_columns(run_id, "m").steps.tolist() == list(range(5))
    assert "t" not in store.get_run(run_id).data.tags


def test_new_batch_ids_append(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_columns(run_id, {"m": _cols(0, 5)}, batch_id=uuid.uuid4().hex)
    store.log_columns(run_id, {"m": _cols(5, 5)}, batch_id=uuid.uuid4().hex)
    store.log_columns(run_id, {"m": _cols(10, 5)})  # no id: always written
    assert store.get_run(run_id).data.summaries["m"].count == 15


def test_batch_ids_are_global_across_runs(store: Store) -> None:
    first = store.create_run("0", run_name="a").info.run_id
    second = store.create_run("0", run_name="b").info.run_id
    store.log_columns(first, {"m": _cols(0, 3)}, batch_id="shared")
    store.log_columns(second, {"m": _cols(0, 3)}, batch_id="shared")
    assert len(store.get_metric_columns(second, "m")) == 0


def test_rejected_batch_does_not_record_its_id(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_columns(run_id, params=[Param("lr", "0.1")])
    with pytest.raises(InvalidInputError, match="Changing param values"):
        store.log_columns(run_id, {"m": _cols(0, 3)}, [Param("lr", "0.2")], batch_id="b")
    store.log_columns(run_id, {"m": _cols(0, 3)}, [Param("lr", "0.1")], batch_id="b")
    assert len(store.get_metric_columns(run_id, "m")) == 3


def test_recorded_batch_is_a_no_op_on_a_deleted_run(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    store.log_columns(run_id, {"m": _cols(0, 3)}, batch_id="before-delete")
    store.delete_run(run_id)
    store.log_columns(run_id, {"m": _cols(0, 3)}, batch_id="before-delete")  # a late retry
    with pytest.raises(InvalidInputError, match="active"):
        store.log_columns(run_id, {"m": _cols(3, 3)}, batch_id="after-delete")
    store.restore_run(run_id)
    store.log_columns(run_id, {"m": _cols(3, 3)}, batch_id="after-delete")
    assert len(store.get_metric_columns(run_id, "m")) == 6


def test_unknown_run_with_batch_id(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.log_columns("f" * 32, {"m": _cols(0, 1)}, batch_id="x")


@pytest.mark.parametrize("bad", ["", "x" * 65, "has space", "semi;colon", "slash/no"])
def test_invalid_batch_id(store: Store, bad: str) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    with pytest.raises(InvalidInputError, match="batch id"):
        store.log_columns(run_id, {"m": _cols(0, 1)}, batch_id=bad)
    assert len(store.get_metric_columns(run_id, "m")) == 0


def test_concurrent_retries_of_one_batch(store: Store) -> None:
    run_id = store.create_run("0", run_name="r").info.run_id
    errors: list[BaseException] = []

    def send() -> None:
        try:
            store.log_columns(run_id, {"m": _cols(0, 500)}, batch_id="raced")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.get_run(run_id).data.summaries["m"].count == 500


def test_ingest_applies_each_write_and_reports_rejections(store: Store) -> None:
    good = store.create_run("0", run_name="good").info.run_id
    gone = store.create_run("0", run_name="gone").info.run_id
    store.delete_run(gone)
    writes = [
        RunWrite(good, {"a": _cols(0, 4)}, batch_id="w0"),
        RunWrite(gone, {"a": _cols(0, 4)}, batch_id="w1"),
        RunWrite("0" * 32, {"a": _cols(0, 4)}, batch_id="w2"),
        RunWrite(good, {"b": _cols(0, 2)}, params=[Param("k", "v")], batch_id="w3"),
    ]
    rejected = store.ingest(writes)
    assert sorted(rejected) == [1, 2]
    assert isinstance(rejected[1], InvalidInputError)
    assert isinstance(rejected[2], NotFoundError)
    assert store.ingest(writes).keys() == rejected.keys()  # retried: nothing doubles
    run = store.get_run(good)
    assert (run.data.summaries["a"].count, run.data.summaries["b"].count) == (4, 2)
    assert run.data.params == {"k": "v"}
