"""``start_run`` cost: an empty run started and ended through the fluent API."""

from __future__ import annotations

import time
from collections.abc import Callable

from scenarios import _stores
from scenarios._spec import Case, Figure, Result, Scenario, Target


def runbase_runs(n: int) -> Result:
    import runbase

    _stores.runbase_fluent()
    return _time_pairs(n, runbase.start_run, runbase.end_run)


def mlflow_runs(n: int) -> Result:
    import mlflow

    _stores.mlflow_fluent()
    return _time_pairs(n, mlflow.start_run, mlflow.end_run)


def _time_pairs(n: int, start_run: Callable[[], object], end_run: Callable[[], object]) -> Result:
    # The first run of a process pays one-off costs (lazy imports, git lookup, caches): it is
    # a figure of its own, since a training script usually starts one run per process.
    start = time.perf_counter()
    start_run()
    end_run()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(n):
        start_run()
        end_run()
    elapsed = time.perf_counter() - start
    return {"value": elapsed / n * 1e3, "first_run_ms": first * 1e3}


_RUNBASE = Case("runbase", "runbase_runs", {"n": 200}, quick={"n": 50})
_MLFLOW = Case("mlflow", "mlflow_runs", {"n": 50}, quick={"n": 20})
_TARGET = Target("<=", 2.0, "≤ 2 ms embedded")

SCENARIO = Scenario(
    name="start_run",
    title="`start_run` cost",
    section="Client, embedded SQLite store",
    module=__name__,
    about=(
        "Milliseconds per `start_run()` + `end_run()` pair creating an empty run, fluent API, "
        "on a store already open and migrated: the first run of a process, then the mean of "
        "the next ones."
    ),
    figures=(
        Figure(
            "first `start_run` + `end_run` of a process",
            "ms",
            "lower",
            _RUNBASE,
            _MLFLOW,
            _TARGET,
            field="first_run_ms",
        ),
        Figure(
            "`start_run` + `end_run`, each next run",
            "ms",
            "lower",
            _RUNBASE,
            _MLFLOW,
            _TARGET,
        ),
    ),
)
