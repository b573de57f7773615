"""Search through the store contract: MLflow's filter grammar, order_by, pages, view types."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from runbase.entities import CONTEXT_TAG, Dataset, DatasetInput, Param, RunStatus, RunTag, ViewType
from runbase.errors import InvalidInputError
from runbase.store import MetricColumns, Store

ARCHS = ["unet", "fpn", "deeplab", "Unet++"]
BATCH_SIZES = ["8", "16", "24", "32"]
STEPS = 100


@dataclass
class Expected:
    exp_id: str
    run_ids: list[str] = field(default_factory=list)
    params: list[dict[str, str]] = field(default_factory=list)
    last: list[dict[str, float]] = field(default_factory=list)
    mins: list[dict[str, float]] = field(default_factory=list)
    status: list[str] = field(default_factory=list)

    def where(self, predicate: object) -> set[str]:
        return {r for i, r in enumerate(self.run_ids) if predicate(i)}  # type: ignore[operator]


def _populate(store: Store, n_runs: int = 100) -> Expected:
    """n runs × 60 params × 3 metrics × 100 steps, with values we can predict exactly."""
    exp = Expected(store.create_experiment("search"))
    steps = np.arange(STEPS)
    for i in range(n_runs):
        run = store.create_run(exp.exp_id, run_name=f"run-{i:03d}", start_time=1_000 + i)
        params = {f"p{j:02d}": str((i * 7 + j) % 13) for j in range(56)}
        params |= {
            "batch_size": BATCH_SIZES[i % 4],
            "arch": ARCHS[i % 4],
            "lr": str(10 ** -(1 + i % 3)),
            "model.encoder.depth": str(i % 5),
        }
        # val_map rises to a per-run plateau; losses fall; the minimum of val_loss sits mid-run.
        plateau = (i % 10) / 10 + 0.05
        val_map = plateau * (1 - np.exp(-steps / 20))
        train_loss = 1.0 / (1 + steps) + i / 1000
        val_loss = (steps - 50) ** 2 / 2500 + (i % 7) / 10
        store.log_columns(
            run.info.run_id,
            {
                "val_map": MetricColumns(steps, steps + 10, val_map),
                "train_loss": MetricColumns(steps, steps + 10, train_loss),
                "val_loss": MetricColumns(steps, steps + 10, val_loss),
            },
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag("group", "even" if i % 2 == 0 else "odd")],
        )
        status = RunStatus.FINISHED if i % 3 else RunStatus.FAILED
        store.update_run(run.info.run_id, status=status, end_time=2_000 + i)
        exp.run_ids.append(run.info.run_id)
        exp.params.append(params)
        exp.last.append(
            {"val_map": val_map[-1], "train_loss": train_loss[-1], "val_loss": val_loss[-1]}
        )
        exp.mins.append({"val_loss": float(val_loss.min())})
        exp.status.append(status)
    return exp


def _ids(store: Store, exp: Expected, filter_string: str, **kwargs: object) -> set[str]:
    page = store.search_runs([exp.exp_id], filter_string, max_results=1000, **kwargs)  # type: ignore[arg-type]
    return {r.info.run_id for r in page.runs}


def test_workflow_filters_on_100_runs(store: Store) -> None:
    exp = _populate(store)
    cases = {
        "params.batch_size = '24' and metrics.val_map > 0.7": lambda i: (
            exp.params[i]["batch_size"] == "24" and exp.last[i]["val_map"] > 0.7
        ),
        "params.batch_size = '24'": lambda i: exp.params[i]["batch_size"] == "24",
        "metrics.val_map >= 0.5": lambda i: exp.last[i]["val_map"] >= 0.5,
        "metrics.val_loss.min < 0.3": lambda i: exp.mins[i]["val_loss"] < 0.3,
        "metrics.train_loss <= 0.05 AND params.lr = '0.01'": lambda i: (
            exp.last[i]["train_loss"] <= 0.05 and exp.params[i]["lr"] == "0.01"
        ),
        "params.arch LIKE 'u%'": lambda i: exp.params[i]["arch"].startswith("u"),
        "params.arch ILIKE 'u%'": lambda i: exp.params[i]["arch"].lower().startswith("u"),
        "params.arch != 'fpn'": lambda i: exp.params[i]["arch"] != "fpn",
        "params.`model.encoder.depth` = '3'": lambda i: exp.params[i]["model.encoder.depth"] == "3",
        "tags.group = 'odd' and status = 'FAILED'": lambda i: (
            i % 2 == 1 and exp.status[i] == "FAILED"
        ),
        "attributes.run_name LIKE 'run-00%'": lambda i: i < 10,
        "params.p00 = '5' and params.p55 = '8' and metrics.val_map < 0.9": lambda i: (
            exp.params[i]["p00"] == "5"
            and exp.params[i]["p55"] == "8"
            and exp.last[i]["val_map"] < 0.9
        ),
        "params.missing IS NULL": lambda i: True,
        "params.lr IS NOT NULL": lambda i: True,
        "metrics.nope > 0": lambda i: False,
        "attributes.start_time >= 1050": lambda i: i >= 50,
    }
    for filter_string, predicate in cases.items():
        assert _ids(store, exp, filter_string) == exp.where(predicate), filter_string
    chosen = exp.run_ids[:3]
    listed = ", ".join(f"'{r}'" for r in chosen)
    assert _ids(store, exp, f"attributes.run_id IN ({listed})") == set(chosen)


def test_order_by_metrics_params_attributes(store: Store) -> None:
    exp = _populate(store, 40)
    page = store.search_runs([exp.exp_id], order_by=["metrics.val_map DESC"], max_results=1000)
    got = [r.info.run_id for r in page.runs]
    # Ties (equal plateaus) fall back to start_time DESC, then run id.
    expected = sorted(range(40), key=lambda i: (-exp.last[i]["val_map"], -(1000 + i)))
    assert got == [exp.run_ids[i] for i in expected]
    page = store.search_runs([exp.exp_id], order_by=["metrics.val_loss.min ASC"], max_results=5)
    best = sorted(range(40), key=lambda i: (exp.mins[i]["val_loss"], -(1000 + i)))[:5]
    assert [r.info.run_id for r in page.runs] == [exp.run_ids[i] for i in best]
    page = store.search_runs([exp.exp_id], order_by=["params.arch", "attributes.run_name DESC"])
    names = [(r.data.params["arch"], r.info.run_name) for r in page.runs]
    assert names == sorted(names, key=lambda t: (t[0], [-ord(c) for c in t[1]]))
    default = store.search_runs([exp.exp_id]).runs
    assert [r.info.start_time for r in default] == sorted(
        (1000 + i for i in range(40)), reverse=True
    )


def test_pagination_is_complete_and_stable(store: Store) -> None:
    exp = _populate(store, 45)
    order = ["metrics.val_map DESC"]
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.search_runs([exp.exp_id], "", max_results=7, order_by=order, page_token=token)
        seen.extend(r.info.run_id for r in page.runs)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == 7
    assert len(seen) == len(set(seen)) == 45
    full = store.search_runs([exp.exp_id], "", max_results=1000, order_by=order).runs
    assert seen == [r.info.run_id for r in full]
    first = store.search_runs([exp.exp_id], "", max_results=7, order_by=order)
    assert first.next_page_token is not None
    with pytest.raises(InvalidInputError, match="another search"):
        store.search_runs([exp.exp_id], "params.lr = '0.1'", page_token=first.next_page_token)
    with pytest.raises(InvalidInputError, match="page token"):
        store.search_runs([exp.exp_id], page_token="garbage!!")


def test_view_types(store: Store) -> None:
    exp_id = store.create_experiment("views")
    alive = store.create_run(exp_id, run_name="alive").info.run_id
    dead = store.create_run(exp_id, run_name="dead").info.run_id
    store.delete_run(dead)

    def ids(view: str) -> set[str]:
        return {r.info.run_id for r in store.search_runs([exp_id], view_type=view).runs}

    assert ids(ViewType.ACTIVE_ONLY) == {alive}
    assert ids(ViewType.DELETED_ONLY) == {dead}
    assert ids(ViewType.ALL) == {alive, dead}
    with pytest.raises(InvalidInputError, match="view type"):
        ids("SOME")


def test_search_across_experiments_and_runs_content(store: Store) -> None:
    a = store.create_experiment("a")
    b = store.create_experiment("b")
    ra = store.create_run(a, run_name="ra").info.run_id
    rb = store.create_run(b, run_name="rb").info.run_id
    store.log_columns(rb, {"m": MetricColumns.from_lists([0, 1], [5, 6], [math.nan, 2.0])})
    page = store.search_runs([a, b], "metrics.m = 2")
    assert [r.info.run_id for r in page.runs] == [rb]
    assert page.runs[0].data.summaries["m"].min == 2.0
    assert {r.info.run_id for r in store.search_runs([a, b]).runs} == {ra, rb}
    assert store.search_runs([]).runs == []


def test_dataset_filters(store: Store) -> None:
    exp_id = store.create_experiment("data")
    ds_a = Dataset("digits", "aaaa1111", "local", "/a")
    ds_b = Dataset("mnist", "bbbb2222", "local", "/b")
    r1 = store.create_run(exp_id, run_name="r1").info.run_id
    r2 = store.create_run(exp_id, run_name="r2").info.run_id
    store.log_inputs(r1, [DatasetInput(ds_a, {CONTEXT_TAG: "training"})])
    store.log_inputs(r2, [DatasetInput(ds_b, {CONTEXT_TAG: "validation"})])

    def ids(f: str) -> set[str]:
        return {r.info.run_id for r in store.search_runs([exp_id], f).runs}

    assert ids("datasets.name = 'digits'") == {r1}
    assert ids("datasets.digest = 'bbbb2222'") == {r2}
    assert ids("datasets.context = 'training'") == {r1}
    assert ids("datasets.name IN ('digits', 'mnist')") == {r1, r2}
    assert ids("datasets.name LIKE 'mn%'") == {r2}


@pytest.mark.parametrize(
    "bad",
    [
        "params.x = 3",
        "metrics.m > 'a'",
        "params.a = '1' OR params.b = '2'",
        "foo.bar = 1",
        "metrics.m >",
        "params.a.min = '1'",
    ],
)
def test_invalid_filters(store: Store, bad: str) -> None:
    with pytest.raises(InvalidInputError):
        store.search_runs(["0"], bad)


def test_max_results_bounds(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="max_results"):
        store.search_runs(["0"], max_results=0)
    with pytest.raises(InvalidInputError, match="max_results"):
        store.search_runs(["0"], max_results=50_001)
