"""Reading back a long metric history: 100,000 points of one metric."""

from __future__ import annotations

import time
from collections.abc import Callable

from scenarios import _stores
from scenarios._spec import Case, Figure, Result, Scenario, Target

KEY = "loss"
#: MLflow's ``log_batch`` takes at most 1,000 metrics per call.
BATCH = 1_000


def runbase_history(points: int, form: str) -> Result:
    import numpy as np

    import runbase

    writer, run_id = _stores.runbase_client()
    steps = np.arange(points, dtype=np.int64)
    writer.log_metric_series(run_id, KEY, steps * 0.001, steps=steps)
    writer.close()
    # A new client reads it back, as a later analysis session would.
    client = runbase.Client(_stores.runbase_path())
    read = client.get_metric_history if form == "objects" else client.get_metric_arrays

    def count() -> int:
        got = read(run_id, KEY)
        return len(got) if isinstance(got, list) else len(got.values)

    return _time_reads(count, points)


def mlflow_history(points: int) -> Result:
    import mlflow
    from mlflow.entities import Metric

    writer, run_id = _stores.mlflow_client()
    stamp = int(time.time() * 1000)
    for first in range(0, points, BATCH):
        last = min(first + BATCH, points)
        batch = [Metric(KEY, step * 0.001, stamp, step) for step in range(first, last)]
        writer.log_batch(run_id, metrics=batch)
    client = mlflow.MlflowClient(tracking_uri=_stores.mlflow_uri())
    return _time_reads(lambda: len(client.get_metric_history(run_id, KEY)), points)


def _time_reads(count: Callable[[], int], points: int) -> Result:
    """The figure is the first read, as a user sees it; a second read is kept as an extra."""
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        got = count()
        timings.append(time.perf_counter() - start)
        if got != points:
            raise RuntimeError(f"read {got} points, expected {points}")
    return {"value": timings[0] * 1e3, "second_read_ms": timings[1] * 1e3}


_POINTS = {"points": 100_000}
_MLFLOW = Case("mlflow", "mlflow_history", _POINTS)

SCENARIO = Scenario(
    name="history",
    title="Metric history of 100,000 points",
    section="Client, embedded SQLite store",
    module=__name__,
    about=(
        "Milliseconds for one `get_metric_history(run_id, key)` of a 100,000-point metric, by "
        "a new client after the points were stored (untimed setup; MLflow's through `log_batch`, "
        "1,000 per call). runbase's array form, `Client.get_metric_arrays`, is compared with the "
        "same MLflow call, since MLflow has no other."
    ),
    figures=(
        Figure(
            "history as a list of `Metric` objects",
            "ms",
            "lower",
            Case("runbase", "runbase_history", {**_POINTS, "form": "objects"}),
            _MLFLOW,
            Target("<=", 100.0, "≤ 100 ms"),
        ),
        Figure(
            "history as arrays (runbase `get_metric_arrays`)",
            "ms",
            "lower",
            Case("runbase", "runbase_history", {**_POINTS, "form": "arrays"}),
            _MLFLOW,
            Target("<=", 20.0, "≤ 20 ms"),
        ),
    ),
)
