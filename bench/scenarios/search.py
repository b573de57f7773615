"""Search over 100,000 runs (100 params, 50 metrics each) on the embedded SQLite store: the
first page of a filtered and ordered search, of a param-equality filter, and of an order alone.

Both stores hold the same runs. Logging them through either tool's API would take hours (every
run is a transaction of 150 keys), so the runs are written straight into each tool's own
tables, as its store writes them, and the file is kept in ``bench/out/cache/`` (see
``_cache``) for the next measurement and the next run; then each store is read back through its
API and checked before it is used.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from scenarios import _cache
from scenarios._spec import Case, Figure, Result, Scenario, Target

EXPERIMENT = "search-bench"
PARAMS = 100
METRICS = 50
PAGE = 100
#: Rows per transaction while building.
BLOCK = 2_000
#: Start times one second apart, so the default order (start time, newest first) has no ties.
EPOCH_MS = 1_700_000_000_000

#: The searches, as ``(name, filter, order_by)``: the figure's field is ``<name>_ms``.
QUERIES: tuple[tuple[str, str, list[str]], ...] = (
    ("filter_order", "params.p00 = '3' and metrics.m00 > 0.5", ["metrics.m00 DESC"]),
    ("param_equals", "params.p01 = '123'", []),
    ("order", "", ["metrics.m00 DESC"]),
)


# -- the runs, the same for both tools -------------------------------------------------------
def run_name(i: int) -> str:
    return f"run-{i:06d}"


def param_values(i: int) -> list[str]:
    """``p00`` takes 10 values, ``p01`` 1,000; the others vary too, so no column is constant."""
    return [str(i % 10), str(i % 1_000), *(str(i * (k + 3) % 97) for k in range(2, PARAMS))]


def metric_values(i: int) -> list[float]:
    """``m00`` has no ties up to 100,003 runs (a prime), so an order on it is unique."""
    return [
        i * 7_919 % 100_003 / 100_003,
        *((i * (k + 11)) % 1_009 / 1_009 for k in range(1, METRICS)),
    ]


PARAM_KEYS = [f"p{k:02d}" for k in range(PARAMS)]
METRIC_KEYS = [f"m{k:02d}" for k in range(METRICS)]


def expected(runs: int, name: str) -> list[str]:
    """The names a query must answer, in order (computed in Python, for both tools)."""
    if name == "filter_order":
        hits = [i for i in range(runs) if i % 10 == 3 and metric_values(i)[0] > 0.5]
        hits.sort(key=lambda i: metric_values(i)[0], reverse=True)
    elif name == "param_equals":
        hits = [i for i in range(runs - 1, -1, -1) if i % 1_000 == 123]  # newest first
    else:
        hits = sorted(range(runs), key=lambda i: metric_values(i)[0], reverse=True)
    return [run_name(i) for i in hits[:PAGE]]


def _blocks(runs: int) -> Iterator[range]:
    for first in range(0, runs, BLOCK):
        yield range(first, min(first + BLOCK, runs))


def _insert(table: Any) -> str:
    """The INSERT of every column of a SQLAlchemy table, with ``?`` placeholders."""
    columns = [c.name for c in table.columns]
    quoted = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(columns))})'


# -- runbase's store ---------------------------------------------------------------------------
def _runbase_fill(folder: Path, runs: int) -> None:
    """The store is created (schema, migrations, experiment) by runbase; the runs go straight
    into its tables as ``create_run`` + ``log_batch`` + ``set_terminated`` would write them: a
    run row, its ``mlflow.runName`` tag, its params, a metric summary and a one-point chunk per
    metric."""
    import struct

    from runbase.store import open_store
    from runbase.store.sql import _schema as t
    from runbase.store.sql._store import RUN_NAME_TAG

    db = folder / "runbase.db"
    store = open_store(f"sqlite:///{db}")
    experiment_id = store.create_experiment(EXPERIMENT)
    location = store.get_experiment(experiment_id).artifact_location.rstrip("/")
    store.close()
    conn = sqlite3.connect(db)
    conn.executemany(_insert_keys(t.metric_keys), [(k,) for k in METRIC_KEYS])
    key_ids = dict(conn.execute("SELECT key, id FROM metric_keys"))
    ids = [key_ids[k] for k in METRIC_KEYS]
    conn.commit()
    step = struct.pack("<q", 0)
    run_sql, tag_sql, param_sql = _insert(t.runs), _insert(t.run_tags), _insert(t.run_params)
    summary_sql, chunk_sql = _insert(t.metric_summaries), _insert(t.metric_chunks)
    run_columns = [c.name for c in t.runs.columns]
    for block in _blocks(runs):
        run_rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[Any, ...]] = []
        param_rows: list[tuple[Any, ...]] = []
        summary_rows: list[tuple[Any, ...]] = []
        chunk_rows: list[tuple[Any, ...]] = []
        for i in block:
            pk, run_uuid, start = i + 1, uuid.uuid4().hex, EPOCH_MS + i * 1_000
            end = start + 500
            row = {
                "id": pk,
                "run_uuid": run_uuid,
                "experiment_id": int(experiment_id),
                "name": run_name(i),
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": start,
                "end_time": end,
                "lifecycle_stage": "active",
                "deleted_time": None,
                "artifact_uri": f"{location}/{run_uuid}/artifacts",
            }
            run_rows.append(tuple(row[c] for c in run_columns))
            tag_rows.append((pk, RUN_NAME_TAG, run_name(i)))
            param_rows.extend(zip([pk] * PARAMS, PARAM_KEYS, param_values(i), strict=True))
            stamp = struct.pack("<q", end)
            for key_id, value in zip(ids, metric_values(i), strict=True):
                summary_rows.append((pk, key_id, value, False, 0, end, value, value, 1))
                chunk_rows.append((pk, key_id, 0, 1, 0, 0, step, stamp, struct.pack("<d", value)))
        conn.executemany(run_sql, run_rows)
        conn.executemany(tag_sql, tag_rows)
        conn.executemany(param_sql, param_rows)
        conn.executemany(summary_sql, summary_rows)
        conn.executemany(chunk_sql, chunk_rows)
        conn.commit()
    conn.close()
    _runbase_check(db, runs)


def _insert_keys(table: Any) -> str:
    return f'INSERT INTO "{table.name}" ("key") VALUES (?)'


def _runbase_check(db: Path, runs: int) -> None:
    """Read a run back through runbase's API: its params, metrics and one metric's history."""
    import runbase

    client = runbase.Client(f"sqlite:///{db}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    _check(experiment is not None, f"no experiment {EXPERIMENT}")
    assert experiment is not None
    i = runs // 2
    page = client.search_runs([experiment.experiment_id], f"attributes.run_name = '{run_name(i)}'")
    _check(len(page) == 1, f"runbase store: {len(page)} runs named {run_name(i)}")
    run = page[0]
    _check(run.data.params == dict(zip(PARAM_KEYS, param_values(i), strict=True)), "params")
    _check(run.data.metrics == dict(zip(METRIC_KEYS, metric_values(i), strict=True)), "metrics")
    history = client.get_metric_history(run.info.run_id, "m00")
    _check([m.value for m in history] == metric_values(i)[:1], "metric history")
    client.close()


def runbase_store(runs: int) -> tuple[Path, float | None]:
    key = _cache.digest(_workload(runs), _cache.runbase_store_files(), _RUNBASE_BUILD)
    folder, built = _cache.entry(f"search-runbase-{runs}", key, lambda f: _runbase_fill(f, runs))
    db = folder / "runbase.db"
    if built is None:  # a kept store: read back again, in case runbase reads it otherwise now
        _runbase_check(db, runs)
    return db, built


# -- MLflow's store ----------------------------------------------------------------------------
def _mlflow_fill(folder: Path, runs: int) -> None:
    """The store is created (Alembic migrations, experiment) by MLflow; the runs go straight into
    the tables of its SQLAlchemy models as ``create_run`` + ``log_batch`` + ``set_terminated``
    would write them: a run row, its ``mlflow.runName`` tag, its params, and per metric a row
    of ``metrics`` and of ``latest_metrics``."""
    import mlflow
    from mlflow.store.tracking.dbmodels import models as m

    db = folder / "mlflow.db"
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment_id = client.create_experiment(EXPERIMENT)
    location = client.get_experiment(experiment_id).artifact_location.rstrip("/")
    conn = sqlite3.connect(db)
    run_table = m.SqlRun.__table__
    run_columns = [c.name for c in run_table.columns]
    tag_columns = [c.name for c in m.SqlTag.__table__.columns]
    param_columns = [c.name for c in m.SqlParam.__table__.columns]
    metric_columns = [c.name for c in m.SqlMetric.__table__.columns]
    latest_columns = [c.name for c in m.SqlLatestMetric.__table__.columns]
    for block in _blocks(runs):
        run_rows: list[tuple[Any, ...]] = []
        tag_rows: list[tuple[Any, ...]] = []
        param_rows: list[tuple[Any, ...]] = []
        metric_rows: list[tuple[Any, ...]] = []
        latest_rows: list[tuple[Any, ...]] = []
        for i in block:
            run_uuid, start = uuid.uuid4().hex, EPOCH_MS + i * 1_000
            end = start + 500
            run = {
                "run_uuid": run_uuid,
                "name": run_name(i),
                "source_type": "UNKNOWN",
                "source_name": "",
                "entry_point_name": "",
                "user_id": "bench",
                "status": "FINISHED",
                "start_time": start,
                "end_time": end,
                "deleted_time": None,
                "source_version": "",
                "lifecycle_stage": "active",
                "artifact_uri": f"{location}/{run_uuid}/artifacts",
                "experiment_id": int(experiment_id),
            }
            run_rows.append(tuple(run[c] for c in run_columns))
            tag = {"key": "mlflow.runName", "value": run_name(i), "run_uuid": run_uuid}
            tag_rows.append(tuple(tag[c] for c in tag_columns))
            for key, value in zip(PARAM_KEYS, param_values(i), strict=True):
                param = {"key": key, "value": value, "run_uuid": run_uuid}
                param_rows.append(tuple(param[c] for c in param_columns))
            for key, number in zip(METRIC_KEYS, metric_values(i), strict=True):
                metric = {
                    "key": key,
                    "value": number,
                    "timestamp": end,
                    "step": 0,
                    "is_nan": False,
                    "run_uuid": run_uuid,
                }
                metric_rows.append(tuple(metric[c] for c in metric_columns))
                latest_rows.append(tuple(metric[c] for c in latest_columns))
        conn.executemany(_insert(run_table), run_rows)
        conn.executemany(_insert(m.SqlTag.__table__), tag_rows)
        conn.executemany(_insert(m.SqlParam.__table__), param_rows)
        conn.executemany(_insert(m.SqlMetric.__table__), metric_rows)
        conn.executemany(_insert(m.SqlLatestMetric.__table__), latest_rows)
        conn.commit()
    conn.close()
    _mlflow_check(db, experiment_id, runs)


def _mlflow_check(db: Path, experiment_id: str, runs: int) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")
    i = runs // 2
    page = client.search_runs([experiment_id], f"attributes.run_name = '{run_name(i)}'")
    _check(len(page) == 1, f"MLflow store: {len(page)} runs named {run_name(i)}")
    run = page[0]
    _check(run.data.params == dict(zip(PARAM_KEYS, param_values(i), strict=True)), "params")
    _check(run.data.metrics == dict(zip(METRIC_KEYS, metric_values(i), strict=True)), "metrics")
    history = client.get_metric_history(run.info.run_id, "m00")
    _check([m.value for m in history] == metric_values(i)[:1], "metric history")


def mlflow_store(runs: int) -> tuple[Path, float | None]:
    import mlflow

    key = _cache.digest({**_workload(runs), "mlflow": mlflow.__version__}, (), _MLFLOW_BUILD)
    folder, built = _cache.entry(f"search-mlflow-{runs}", key, lambda f: _mlflow_fill(f, runs))
    return folder / "mlflow.db", built


def _workload(runs: int) -> dict[str, Any]:
    return {"runs": runs, "block": BLOCK, "epoch": EPOCH_MS, "keys": PARAM_KEYS + METRIC_KEYS}


#: What a store's content depends on, besides the workload (see ``_cache.digest``).
_BUILD: list[Callable[..., Any]] = [run_name, param_values, metric_values, _insert]
_RUNBASE_BUILD: list[Callable[..., Any]] = [*_BUILD, _insert_keys, _runbase_fill]
_MLFLOW_BUILD: list[Callable[..., Any]] = [*_BUILD, _mlflow_fill]


def _warm(db: Path) -> None:
    """Read the store file once, untimed, so the first search of both tools finds it in the
    OS page cache whatever ran before (a cold read would time the disk, not the search)."""
    with db.open("rb") as f:
        while f.read(1 << 24):
            pass


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise RuntimeError(f"the search store does not read back as built: {what}")


# -- the cases ---------------------------------------------------------------------------------
def runbase_search(runs: int, searches: int) -> Result:
    import runbase

    db, built = runbase_store(runs)
    _warm(db)
    client = runbase.Client(f"sqlite:///{db}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    exp = experiment.experiment_id

    def search(filter_string: str, order_by: list[str]) -> list[str]:
        page = client.search_runs([exp], filter_string, max_results=PAGE, order_by=order_by)
        return [run.info.run_name for run in page]

    result = _measure(search, runs, searches, [name for name, _, _ in QUERIES])
    client.close()
    return {**result, "build_s": built or 0.0}


def mlflow_search(runs: int, searches: int, queries: list[str]) -> Result:
    import mlflow

    db, built = mlflow_store(runs)
    _warm(db)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    exp = experiment.experiment_id

    def search(filter_string: str, order_by: list[str]) -> list[str]:
        page = client.search_runs([exp], filter_string, max_results=PAGE, order_by=order_by)
        return [run.info.run_name for run in page]

    result = _measure(search, runs, searches, queries)
    return {**result, "build_s": built or 0.0}


def _measure(
    search: Callable[[str, list[str]], list[str]], runs: int, searches: int, queries: list[str]
) -> Result:
    """Each of ``queries`` ``searches`` times: the figure is the first search by the new client,
    the median of all is kept as an extra. Every answer is checked, untimed."""
    out: Result = {}
    for name, filter_string, order_by in QUERIES:
        if name not in queries:
            continue
        want = expected(runs, name)
        timings = []
        for _ in range(searches):
            start = time.perf_counter()
            got = search(filter_string, order_by)
            timings.append(time.perf_counter() - start)
            if got != want:
                raise RuntimeError(f"{name}: wrong answer {got[:3]}… instead of {want[:3]}…")
        out[f"{name}_ms"] = timings[0] * 1e3
        out[f"{name}_median_ms"] = statistics.median(timings) * 1e3
    out["value"] = out[f"{queries[0]}_ms"]
    return out


RUNS = 100_000
QUICK_RUNS = 10_000
SEARCHES = 5
#: MLflow's filtered search takes tens of seconds at this size: one search per query.
MLFLOW_SEARCHES = 1
#: Without a filter, MLflow's ordered search takes tens of seconds already at 10,000 runs (it
#: sorts every run): that row measures it at this size, once per measurement.
MLFLOW_ORDER_RUNS = 10_000

_RUNBASE = Case(
    "runbase",
    "runbase_search",
    {"runs": RUNS, "searches": SEARCHES},
    quick={"runs": QUICK_RUNS, "searches": 3},
)
_MLFLOW = Case(
    "mlflow",
    "mlflow_search",
    {"runs": RUNS, "searches": MLFLOW_SEARCHES, "queries": ["filter_order", "param_equals"]},
    quick={"runs": QUICK_RUNS},
)
_MLFLOW_ORDER = Case(
    "mlflow", "mlflow_search", {"runs": MLFLOW_ORDER_RUNS, "searches": 1, "queries": ["order"]}
)
_TARGET = Target("<=", 50.0, "≤ 50 ms")
_F, _P, _O = QUERIES

SCENARIO = Scenario(
    name="search",
    title=f"Search over {RUNS:,} runs ({PARAMS} params, {METRICS} metrics each)",
    section="Client, embedded SQLite store",
    module=__name__,
    about=(
        f"Milliseconds for the first page ({PAGE} runs) of `search_runs` on an embedded SQLite "
        f"store of {RUNS:,} finished runs ({QUICK_RUNS:,} with `--quick`), each with {PARAMS} "
        f"params and {METRICS} metrics, by each tool's client (`runbase.Client`, "
        "`MlflowClient`) opened before the clock starts, on a store file read once beforehand "
        "(so it is in the OS page cache). The figure is the first search of "
        f"each query by that client; runbase then searches again, {SEARCHES} times in all (3 "
        "with `--quick`), listed as `*_median_ms`, while MLflow, whose filtered search takes "
        "tens of seconds at this size, searches once; one measurement per tool. Every answer "
        "is checked against the expected runs in order. The last row, an order without a filter, "
        f"measures MLflow at {MLFLOW_ORDER_RUNS:,} runs, once: it sorts every run, which takes "
        "it tens of seconds already at that size; it is left out of `--quick` runs. Both "
        "stores hold the same runs. Logging them through either API would take hours, so "
        "they are written straight into each tool's tables, as its `create_run` + "
        "`log_batch` + `set_terminated` write them (untimed setup, checked by reading a run "
        "back through the API), and kept in `bench/out/cache/` for later measurements, keyed "
        "by the workload, MLflow's version and runbase's schema sources (`build_s`: the "
        "seconds a build took when it happened in that measurement; building MLflow's "
        "100,000-run store takes many minutes, runbase's a few)."
    ),
    figures=(
        Figure(
            f"filter `{_F[1]}` + `order_by {_F[2][0]}`, first page",
            "ms",
            "lower",
            _RUNBASE,
            _MLFLOW,
            _TARGET,
            field="filter_order_ms",
        ),
        Figure(
            f"param equality `{_P[1]}`, first page",
            "ms",
            "lower",
            _RUNBASE,
            _MLFLOW,
            field="param_equals_ms",
        ),
        Figure(
            f"no filter, `order_by {_O[2][0]}`, first page "
            f"(MLflow at {MLFLOW_ORDER_RUNS:,} runs, one search)",
            "ms",
            "lower",
            _RUNBASE,
            _MLFLOW_ORDER,
            field="order_ms",
            quick=False,
        ),
    ),
    repeats=1,
    timeout=3_600.0,
)
