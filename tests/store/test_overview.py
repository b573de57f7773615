"""Overview queries (experiment summaries, run keys, child counts): every backend, and the
generic fallbacks of ``Store`` that page through runs, must agree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from runbase.entities import Param, RunTag, ViewType
from runbase.errors import InvalidInputError
from runbase.store import MetricColumns, Store
from runbase.store.base import PARENT_RUN_TAG
from runbase.store.base import Store as BaseStore

Impl = Callable[..., Any]


@pytest.fixture(params=["backend", "fallback"])
def via(request: pytest.FixtureRequest) -> Callable[[Store, str], Impl]:
    """The backend's own method, or the generic one built on search_runs."""

    def pick(store: Store, name: str) -> Impl:
        if request.param == "backend":
            return getattr(store, name)  # type: ignore[no-any-return]
        method = getattr(BaseStore, name)
        return lambda *args, **kwargs: method(store, *args, **kwargs)

    return pick


def _series(n: int) -> MetricColumns:
    steps = np.arange(n, dtype=np.int64)
    return MetricColumns(steps, steps + 1000, steps * 0.5)


def test_experiment_summaries(store: Store, via: Callable[[Store, str], Impl]) -> None:
    busy = store.create_experiment("busy")
    empty = store.create_experiment("empty")
    runs = [store.create_run(busy, run_name=f"r{i}", start_time=1000 + i) for i in range(3)]
    store.update_run(runs[0].info.run_id, status="FINISHED", end_time=5000)
    store.delete_run(runs[1].info.run_id)
    summaries = {s.experiment.experiment_id: s for s in via(store, "experiment_summaries")()}
    assert (summaries[busy].run_count, summaries[busy].last_activity) == (2, 5000)
    assert summaries[busy].experiment.name == "busy"
    assert (summaries[empty].run_count, summaries[empty].last_activity) == (0, None)
    store.delete_experiment(empty)
    active = {s.experiment.experiment_id for s in via(store, "experiment_summaries")()}
    assert empty not in active
    deleted = via(store, "experiment_summaries")(ViewType.DELETED_ONLY)
    assert [s.experiment.experiment_id for s in deleted] == [empty]


def test_run_keys(store: Store, via: Callable[[Store, str], Impl]) -> None:
    exp = store.create_experiment("keys")
    other = store.create_experiment("other")
    old = store.create_run(exp, run_name="old", start_time=1)
    new = store.create_run(exp, run_name="new", start_time=2)
    store.log_columns(old.info.run_id, {"loss": _series(3)}, [Param("lr", "0.1")])
    store.log_columns(
        new.info.run_id,
        {"acc": _series(2), "system/cpu": _series(2)},
        [Param("model.depth", "4")],
        [RunTag("team", "vision")],
    )
    elsewhere = store.create_run(other, run_name="x")
    store.log_columns(elsewhere.info.run_id, {"secret": _series(1)}, [Param("hidden", "1")])
    keys = via(store, "run_keys")([exp])
    assert keys.params == ["lr", "model.depth"]
    assert keys.metrics == ["acc", "loss", "system/cpu"]
    assert "team" in keys.tags and "mlflow.runName" not in keys.params
    newest = via(store, "run_keys")([exp], 1)
    assert (newest.params, newest.metrics) == (["model.depth"], ["acc", "system/cpu"])
    both = via(store, "run_keys")([exp, other])
    assert "hidden" in both.params and "secret" in both.metrics
    assert via(store, "run_keys")([]).params == []
    with pytest.raises(InvalidInputError):
        via(store, "run_keys")([exp], 0)


def test_child_counts(store: Store, via: Callable[[Store, str], Impl]) -> None:
    exp = store.create_experiment("tree")
    parent = store.create_run(exp, run_name="parent").info.run_id
    lonely = store.create_run(exp, run_name="lonely").info.run_id
    children = [
        store.create_run(exp, run_name=f"c{i}", tags={PARENT_RUN_TAG: parent}).info.run_id
        for i in range(3)
    ]
    store.delete_run(children[0])
    assert via(store, "child_counts")([parent, lonely, "f" * 32]) == {parent: 2}
    assert via(store, "child_counts")([]) == {}
    quoted = store.create_run(exp, run_name="q", tags={PARENT_RUN_TAG: "it's"}).info.run_id
    assert quoted
    assert via(store, "child_counts")(["it's"]) == {"it's": 1}
