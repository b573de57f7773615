"""Every way the SQL store can run a search (``_search``: driven by a selective filter's index,
walked along a metric's summaries, or over the runs) returns what the plain query returns: the
runs' filters as correlated probes and the order as scalar subqueries, which is the semantics the
contract tests pin (NULLs and missing metrics last, ties by start time DESC then run id)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from runbase.entities import Param, RunTag, ViewType
from runbase.store import MetricColumns
from runbase.store.sql import SqlStore, _metrics, _search
from runbase.store.sql._schema import runs
from runbase.store.sql._store import _lifecycle_filter

RUNS = 36


@pytest.fixture
def store(db_uri: str, tmp_path: Path) -> Iterator[tuple[SqlStore, list[str]]]:
    """Runs of two experiments with ties, NaN and missing metrics, and deleted runs."""
    opened = SqlStore(db_uri, artifact_root=(tmp_path / "artifacts").as_uri())
    experiments = [opened.create_experiment("plans-a"), opened.create_experiment("plans-b")]
    for i in range(RUNS):
        # Pairs of runs share a start time, so the run id breaks some ties.
        run = opened.create_run(experiments[i % 5 == 4], run_name=f"r{i}", start_time=100 + i // 2)
        run_id = run.info.run_id
        metrics = {"k": MetricColumns.from_lists([0], [1], [float(i % 3)])}
        if i % 6 != 0:  # m: missing on every sixth run, NaN on some, tied values
            value = math.nan if i % 7 == 3 else (i * 5 % 11) / 10
            metrics["m"] = MetricColumns.from_lists([0, 1], [1, 2], [0.5, value])
        params = [Param("p", str(i % 4)), Param("q", str(i % 12))]
        tags = [RunTag("t", "x" if i % 2 else "y")]
        opened.log_columns(run_id, metrics, params=params, tags=tags)
        if i % 9 == 8:
            opened.delete_run(run_id)
    yield opened, experiments
    opened.close()


FILTERS = [
    "",
    "params.p = '1'",
    "params.q = '3'",
    "params.q IN ('3', '7', '11')",
    "params.p != '1'",
    "metrics.m > 0.3",
    "metrics.m >= 0.5 and params.p = '2'",
    "metrics.m < 0.4 and metrics.k = 1",
    "tags.t = 'x' and metrics.k <= 1",
    "metrics.k < 2 and params.q = '5'",
    "metrics.m.min < 0.6",
    "params.q IS NULL",
    "metrics.nope > 0",
]
ORDERS = [
    [],
    ["metrics.m DESC"],
    ["metrics.m ASC"],
    ["metrics.m DESC", "params.p ASC"],
    ["metrics.k ASC", "start_time ASC"],
    ["metrics.nope DESC"],
    ["start_time ASC"],
    ["params.q"],
    ["metrics.m.max DESC"],
]
#: How the limits are set: as shipped, never driving by a filter, driving whenever one can.
REGIMES = {"shipped": None, "walk": (0, 0), "drive": (10**9, 1)}


def _reference(
    store: SqlStore, experiments: list[str], filter_string: str, view: str, order: list[str]
) -> list[str]:
    query = _search.RunQuery.build(
        [int(e) for e in experiments],
        filter_string,
        view,
        _lifecycle_filter(runs, view),
        order,
        None,
    )
    keys = {i.identifier.key for i in (*query.comparisons, *query.order)}
    with store._read() as conn:
        key_ids = _metrics.lookup_key_ids(conn, keys, {})
        stmt = (
            sa.select(runs.c.run_uuid)
            .where(runs.c.experiment_id.in_(query.experiment_ids), query.lifecycle)
            .where(*(_search._clause(c, key_ids) for c in query.comparisons))
            .order_by(*_search._order_clauses(query.order, key_ids))
        )
        return list(conn.execute(stmt).scalars())


def _pages(
    store: SqlStore, experiments: list[str], filter_string: str, view: str, order: list[str]
) -> list[str]:
    seen: list[str] = []
    token = None
    while True:
        page = store.search_runs(experiments, filter_string, view, 4, order, token)
        seen.extend(r.info.run_id for r in page.runs)
        token = page.next_page_token
        if token is None:
            return seen


@pytest.mark.parametrize("regime", list(REGIMES))
def test_every_plan_matches_the_plain_query(
    store: tuple[SqlStore, list[str]], regime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened, experiments = store
    if (limits := REGIMES[regime]) is not None:
        monkeypatch.setattr(_search, "_DRIVE_MIN", limits[0])
        monkeypatch.setattr(_search, "_DRIVE_FACTOR", limits[1])
    for view in (ViewType.ACTIVE_ONLY, ViewType.ALL):
        for scope in (experiments[:1], experiments):
            for filter_string in FILTERS:
                for order in ORDERS:
                    want = _reference(opened, scope, filter_string, view, order)
                    page = opened.search_runs(scope, filter_string, view, 1000, order)
                    got = [r.info.run_id for r in page.runs]
                    assert got == want, (view, scope, filter_string, order)
    # Pages of 4 cross from runs with a value of the order metric to runs without one.
    for filter_string in FILTERS[:4]:
        for order in ORDERS[1:4]:
            want = _reference(opened, experiments, filter_string, ViewType.ALL, order)
            got = _pages(opened, experiments, filter_string, ViewType.ALL, order)
            assert got == want, (filter_string, order)


def test_page_past_the_runs_with_a_value(store: tuple[SqlStore, list[str]]) -> None:
    """A page that starts after every run with a value of the order metric counts them to know
    where the runs without one begin."""
    opened, experiments = store
    order = ["metrics.m DESC"]
    want = _reference(opened, experiments, "", ViewType.ALL, order)
    first = opened.search_runs(experiments, "", ViewType.ALL, len(want) - 3, order)
    assert first.next_page_token is not None
    rest = opened.search_runs(experiments, "", ViewType.ALL, 10, order, first.next_page_token)
    assert [r.info.run_id for r in first.runs + rest.runs] == want
    runs_with_value = sum(
        1 for r in first.runs if not math.isnan(r.data.metrics.get("m", math.nan))
    )
    assert runs_with_value < len(first.runs)  # the first page already held runs without one


def test_loaded_runs_are_whole(store: tuple[SqlStore, list[str]]) -> None:
    """A page carries each run's params, tags and summaries, sorted by key, exactly."""
    opened, experiments = store
    page = opened.search_runs(experiments, "params.q = '7'", ViewType.ALL, 10)
    assert [r.info.run_name for r in page.runs] == ["r31", "r19", "r7"]
    run = page.runs[-1]
    assert run.data.params == {"p": "3", "q": "7"}
    assert list(run.data.tags) == ["mlflow.runName", "t"] and run.data.tags["t"] == "x"
    assert list(run.data.summaries) == ["k", "m"]
    assert run.data.metrics == {"k": 1.0, "m": 0.2}
    m = run.data.summaries["m"]
    assert (m.last_step, m.last_timestamp, m.min, m.max, m.count) == (1, 2, 0.2, 0.5, 2)
    nan_run = opened.search_runs(experiments, "params.q = '3'").runs[-1]  # r3: m ends on NaN
    assert nan_run.info.run_name == "r3" and np.isnan(nan_run.data.metrics["m"])
