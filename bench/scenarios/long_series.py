"""A long series: 1,000,000 points in one metric, read back whole (arrays, objects) and as the
min/max-bucketed chart data a UI draws."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from scenarios import _cache, _stores
from scenarios._spec import Case, Figure, Result, Scenario, Target
from scenarios.history import BATCH, KEY, runbase_history

__all__ = ["mlflow_long_history", "runbase_buckets", "runbase_history"]

#: Reads of the bucketed series per measurement: the figure is their median.
BUCKET_READS = 5


def _mlflow_fill(folder: Path, points: int) -> None:
    """One run with ``points`` points of one metric, through ``MlflowClient.log_batch``
    (1,000 per call, its limit): minutes for a million points, so kept in the cache."""
    import mlflow
    from mlflow.entities import Metric

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment_id = client.create_experiment(_stores.EXPERIMENT)
    run_id = client.create_run(experiment_id).info.run_id
    stamp = int(time.time() * 1000)
    for first in range(0, points, BATCH):
        last = min(first + BATCH, points)
        batch = [Metric(KEY, step * 0.001, stamp, step) for step in range(first, last)]
        client.log_batch(run_id, metrics=batch)
    client.set_terminated(run_id)
    (folder / "run_id").write_text(run_id)


def mlflow_long_history(points: int) -> Result:
    """``MlflowClient.get_metric_history`` by a new client on a store holding the series."""
    import mlflow

    parts = {"points": points, "key": KEY, "batch": BATCH, "mlflow": mlflow.__version__}
    key = _cache.digest(parts, (), [_mlflow_fill])
    folder, built = _cache.entry(
        f"long-series-mlflow-{points}", key, lambda f: _mlflow_fill(f, points)
    )
    run_id = (folder / "run_id").read_text()
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    # One read: at a million points it takes MLflow tens of seconds (runbase's second read is
    # listed, MLflow's would only double the scenario's time).
    start = time.perf_counter()
    got = len(client.get_metric_history(run_id, KEY))
    seconds = time.perf_counter() - start
    if got != points:
        raise RuntimeError(f"read {got} points, expected {points}")
    return {"value": seconds * 1e3, "build_s": built or 0.0}


def runbase_buckets(points: int, buckets: int) -> Result:
    """Chart data in-process, as ``runbase ui`` computes it for each request: the series' steps
    and values read from the store (``Store.get_metric_window`` without timestamps, as the
    native API's ``?buckets=`` reads them), then cut into ``buckets`` min/max buckets
    (``runbase.store._downsample``, what that API answers with)."""
    import numpy as np

    import runbase
    from runbase.store import _downsample

    writer, run_id = _stores.runbase_client()
    steps = np.arange(points, dtype=np.int64)
    values = np.sin(steps * 0.001)
    values[points // 3] = 50.0  # a spike, which the buckets must keep
    writer.log_metric_series(run_id, KEY, values, steps=steps)
    writer.close()
    client = runbase.Client(_stores.runbase_path())
    timings = []
    for _ in range(BUCKET_READS):
        start = time.perf_counter()
        cols = client.store.get_metric_window(run_id, KEY, timestamps=False)
        chart = _downsample.downsample(cols, buckets)
        timings.append(time.perf_counter() - start)
        if int(chart.counts.sum()) != points or len(chart) > buckets:
            raise RuntimeError(f"{len(chart)} buckets holding {chart.counts.sum()} points")
        if float(chart.max.max()) != 50.0:
            raise RuntimeError("the buckets lost the spike")
    client.close()
    return {
        "value": statistics.median(timings) * 1e3,
        "first_read_ms": timings[0] * 1e3,
        "buckets": len(chart),
    }


POINTS = 1_000_000
BUCKETS = 2_000
_MLFLOW = Case("mlflow", "mlflow_long_history", {"points": POINTS})

SCENARIO = Scenario(
    name="long_series",
    title=f"A long series: {POINTS:,} points in one metric",
    section="Client, embedded SQLite store",
    module=__name__,
    about=(
        f"One metric of {POINTS:,} points, read back by a new client on the embedded SQLite "
        "store. Whole series (left out of `--quick` runs: `history` measures the same calls at "
        "100,000 points): milliseconds of the first read (runbase's second is listed as "
        "`second_read_ms`; MLflow, which takes tens of seconds, reads once), runbase's "
        "`Client.get_metric_arrays` (numpy arrays) and `get_metric_history` (`Metric` "
        "objects) against MLflow's `get_metric_history`, its "
        "only call. runbase stores the series untimed with one `log_metric_series`; MLflow's "
        f"store gets it through `log_batch` ({BATCH:,} per call), which takes minutes for a "
        "million points, so that store is built once and kept in `bench/out/cache/` (keyed by "
        "the point count and MLflow's version; `build_s` when it happened in a measurement). "
        f"Chart data, runbase only (MLflow has no such call): {BUCKETS:,} min/max buckets of "
        f"the {POINTS:,}-point series, in-process: its steps and values read (no timestamps), "
        "then bucketed, as the native API's `?buckets=` does (first/last/min/max per bucket, "
        f"checked to keep a spike), the median of {BUCKET_READS} reads; over HTTP it is in "
        "`server_history`."
    ),
    figures=(
        Figure(
            "whole series as arrays (runbase `get_metric_arrays`)",
            "ms",
            "lower",
            Case("runbase", "runbase_history", {"points": POINTS, "form": "arrays"}),
            _MLFLOW,
            quick=False,
        ),
        Figure(
            "whole series as a list of `Metric` objects",
            "ms",
            "lower",
            Case("runbase", "runbase_history", {"points": POINTS, "form": "objects"}),
            _MLFLOW,
            quick=False,
        ),
        Figure(
            f"chart data: {BUCKETS:,} min/max buckets of {POINTS:,} points (runbase only)",
            "ms",
            "lower",
            Case("runbase", "runbase_buckets", {"points": POINTS, "buckets": BUCKETS}),
            None,
            Target("<=", 30.0, "≤ 30 ms"),
        ),
    ),
)
