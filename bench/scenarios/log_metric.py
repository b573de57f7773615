"""``log_metric`` call cost: what one call costs the training loop that makes it."""

from __future__ import annotations

import time
from collections.abc import Callable

from scenarios import _stores
from scenarios._spec import Case, Figure, Result, Scenario, Target

KEY = "loss"


def runbase_calls(n: int) -> Result:
    import runbase

    _stores.runbase_fluent()
    runbase.start_run()
    runbase.log_metric("warmup", 0.0, step=0)  # one-off costs of the first call stay out
    start = time.perf_counter()
    for i in range(n):
        runbase.log_metric(KEY, i * 0.001, step=i)
    calls = time.perf_counter() - start
    return _result(calls, n, _timed_end(runbase.end_run))


def mlflow_calls(n: int, synchronous: bool) -> Result:
    import mlflow

    _stores.mlflow_fluent()
    mlflow.start_run()
    mlflow.log_metric("warmup", 0.0, step=0, synchronous=synchronous)
    start = time.perf_counter()
    for i in range(n):
        mlflow.log_metric(KEY, i * 0.001, step=i, synchronous=synchronous)
    calls = time.perf_counter() - start
    # end_run waits for MLflow's async queue to drain; kept as an extra, not in the figure.
    return _result(calls, n, _timed_end(mlflow.end_run))


def _timed_end(end_run: Callable[[], object]) -> float:
    start = time.perf_counter()
    end_run()
    return time.perf_counter() - start


def _result(calls: float, n: int, end_run: float) -> Result:
    return {
        "value": calls / n * 1e6,
        "end_run_ms": end_run * 1e3,
        # What a call costs once its point is stored: MLflow's async mode defers the work.
        "per_call_until_stored_us": (calls + end_run) / n * 1e6,
    }


# MLflow's synchronous call costs milliseconds, so it gets fewer calls: the figure is a per-call
# cost, and a few hundred calls already give it a stable mean.
_RUNBASE = Case("runbase", "runbase_calls", {"n": 200_000}, quick={"n": 50_000})
_TARGET = Target("<=", 2.0, "≤ 2 µs (non-blocking)")

SCENARIO = Scenario(
    name="log_metric",
    title="`log_metric` call cost",
    section="Client, embedded SQLite store",
    module=__name__,
    about=(
        "Microseconds per `log_metric(key, value, step=i)` call on an active run, fluent API, "
        "timing the calls only (the run is started and the store migrated before; `end_run` "
        "after). MLflow is measured in its default synchronous mode and with `synchronous=False`."
    ),
    figures=(
        Figure(
            "`log_metric` per call (MLflow synchronous)",
            "µs",
            "lower",
            _RUNBASE,
            Case("mlflow", "mlflow_calls", {"n": 300, "synchronous": True}, quick={"n": 100}),
            _TARGET,
        ),
        Figure(
            "`log_metric` per call (MLflow `synchronous=False`)",
            "µs",
            "lower",
            _RUNBASE,
            Case("mlflow", "mlflow_calls", {"n": 1_000, "synchronous": False}, quick={"n": 300}),
            _TARGET,
        ),
    ),
)
