"""Purging deleted runs: part of the conformance suite, on every backend."""

from __future__ import annotations

import pytest

from runbase.entities import Dataset, DatasetInput, Param, RunTag, ViewType
from runbase.errors import InvalidInputError, NotFoundError
from runbase.store import MetricColumns, Store
from runbase.store.base import now_ms


def _logged_run(store: Store, experiment_id: str, name: str) -> str:
    run_id = store.create_run(experiment_id, run_name=name).info.run_id
    store.log_columns(
        run_id,
        {"loss": MetricColumns.from_lists([0, 1, 2], [10, 11, 12], [0.9, 0.5, 0.2])},
        [Param("lr", "0.1")],
        [RunTag("team", "vision")],
    )
    store.log_inputs(run_id, [DatasetInput(Dataset("train", "abc123", "local", "/data"))])
    return run_id


def test_deleted_runs_are_listed_and_purged_for_good(store: Store) -> None:
    experiment_id = store.create_experiment("purge")
    gone = _logged_run(store, experiment_id, "gone")
    kept = _logged_run(store, experiment_id, "kept")
    assert store.deleted_runs() == []
    before = now_ms()
    store.delete_run(gone)
    [listed] = store.deleted_runs()
    assert (listed.run_id, listed.experiment_id) == (gone, experiment_id)
    assert listed.artifact_uri == store.get_run(gone).info.artifact_uri
    assert listed.deleted_time is not None and listed.deleted_time >= before
    assert store.deleted_runs(deleted_before=before - 1) == []
    assert [r.run_id for r in store.deleted_runs(deleted_before=now_ms() + 1)] == [gone]

    store.purge_run(gone)
    with pytest.raises(NotFoundError):
        store.get_run(gone)
    assert store.deleted_runs() == []
    page = store.search_runs([experiment_id], "", ViewType.ALL, 100, None, None)
    assert [r.info.run_id for r in page.runs] == [kept]
    survivor = store.get_run(kept)  # the other run keeps everything
    assert survivor.data.params == {"lr": "0.1"} and survivor.data.tags["team"] == "vision"
    assert list(store.get_metric_columns(kept, "loss").values) == [0.9, 0.5, 0.2]
    assert [i.dataset.digest for i in survivor.inputs.dataset_inputs] == ["abc123"]


def test_only_deleted_runs_can_be_purged(store: Store) -> None:
    experiment_id = store.create_experiment("purge-guard")
    run_id = _logged_run(store, experiment_id, "active")
    with pytest.raises(InvalidInputError, match="not deleted"):
        store.purge_run(run_id)
    assert store.get_run(run_id).data.params == {"lr": "0.1"}
    with pytest.raises(NotFoundError):
        store.purge_run("0123456789abcdef0123456789abcdef")


def test_runs_of_a_deleted_experiment_are_deleted_runs(store: Store) -> None:
    experiment_id = store.create_experiment("purge-experiment")
    run_id = _logged_run(store, experiment_id, "inside")
    store.delete_experiment(experiment_id)
    assert [r.run_id for r in store.deleted_runs()] == [run_id]
    store.purge_run(run_id)
    assert store.deleted_runs() == []
