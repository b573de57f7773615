"""Reading a long metric history through the server."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from scenarios import _servers
from scenarios._spec import Case, Figure, Result, Scenario, Target, Tool

KEY = "loss"
#: MLflow's ``log_batch`` takes at most 1,000 metrics per call.
BATCH = 1_000
#: Reads of the bucketed history per measurement: the figure is their median.
BUCKET_READS = 5


# -- building a store in-process (run in the store's own interpreter) ---------------------------
def runbase_store_points(points: int) -> Result:
    """One run with ``points`` points of one metric, by runbase's client on the SQLite file."""
    import numpy as np

    import runbase

    client = runbase.Client(_servers.store_uri("runbase"))
    experiment_id = client.create_experiment(_servers.experiment())
    run_id = client.create_run(experiment_id).info.run_id
    steps = np.arange(points, dtype=np.int64)
    client.log_metric_series(run_id, KEY, np.sin(steps * 0.001), steps=steps)
    client.close()
    return {"run_id": run_id}


def mlflow_store_points(points: int) -> Result:
    """The same by MLflow's client on its SQLite store, ``log_batch`` of 1,000 at a time."""
    import math

    import mlflow
    from mlflow.entities import Metric

    client = mlflow.MlflowClient(tracking_uri=_servers.store_uri("mlflow"))
    experiment_id = client.create_experiment(_servers.experiment())
    run_id = client.create_run(experiment_id).info.run_id
    stamp = int(time.time() * 1000)
    for first in range(0, points, BATCH):
        steps = range(first, min(first + BATCH, points))
        batch = [Metric(KEY, math.sin(step * 0.001), stamp, step) for step in steps]
        client.log_batch(run_id, metrics=batch)
    return {"run_id": run_id}


def _store_points(tool: Tool, points: int) -> str:
    return str(_servers.call(tool, __name__, f"{tool}_store_points", points=points)["run_id"])


# -- the cases -------------------------------------------------------------------------------------
def mlflow_client_history(server: Tool, points: int, workers: int) -> Result:
    """``MlflowClient.get_metric_history`` against ``server`` (MLflow's interpreter for both)."""
    import mlflow

    run_id = _store_points(server, points)
    with _servers.serve(server, workers) as srv:
        client = mlflow.MlflowClient(tracking_uri=srv.url)
        result = _first_and_second(lambda: len(client.get_metric_history(run_id, KEY)), points)
    return {**result, **_servers.timings(srv)}


def runbase_client_arrays(points: int, workers: int) -> Result:
    """runbase's own client: ``Client.get_metric_arrays`` (numpy arrays) over HTTP."""
    import runbase

    run_id = _store_points("runbase", points)
    _servers.spool_here()
    with _servers.serve("runbase", workers) as srv:
        client = runbase.Client(srv.url)
        client.get_run(run_id)  # opens the connection, as an analysis session would have
        result = _first_and_second(
            lambda: len(client.get_metric_arrays(run_id, KEY).values), points
        )
        client.close()
    return {**result, **_servers.timings(srv)}


def runbase_buckets(points: int, buckets: int, workers: int) -> Result:
    """runbase's native API for charts: ``GET /api/v1/runs/{run}/metrics/{key}?buckets=N``
    answers first/last/min/max per step bucket, as the UI asks for a long series."""
    import httpx

    run_id = _store_points("runbase", points)
    with _servers.serve("runbase", workers) as srv, httpx.Client(base_url=srv.url) as http:
        path = f"/api/v1/runs/{run_id}/metrics/{KEY}"
        http.get("/health")  # opens the connection

        def read() -> int:
            answer = http.get(path, params={"buckets": buckets})
            answer.raise_for_status()
            body = answer.json()
            counts = body["buckets"]["count"]
            _servers.check(body["total"] == points, f"total {body['total']}, expected {points}")
            _servers.check(len(counts) <= buckets, f"{len(counts)} buckets for {buckets}")
            return int(sum(counts))

        timings = []
        for _ in range(BUCKET_READS):
            start = time.perf_counter()
            got = read()
            timings.append(time.perf_counter() - start)
            _servers.check(got == points, f"buckets hold {got} points, expected {points}")
    return {
        "value": statistics.median(timings) * 1e3,
        "first_read_ms": timings[0] * 1e3,
        **_servers.timings(srv),
    }


def _first_and_second(count: Callable[[], int], points: int) -> Result:
    """The figure is the first read by a new client, as in the embedded history scenario; a
    second read is kept as an extra."""
    timings = []
    for _ in range(2):
        start = time.perf_counter()
        got = count()
        timings.append(time.perf_counter() - start)
        _servers.check(got == points, f"read {got} points, expected {points}")
    return {"value": timings[0] * 1e3, "second_read_ms": timings[1] * 1e3}


_W = _servers.WORKERS
POINTS = 100_000
QUICK_POINTS = 10_000
_POINTS = {"points": POINTS, "workers": _W}
_QUICK = {"points": QUICK_POINTS}
_MLFLOW = Case("mlflow", "mlflow_client_history", {"server": "mlflow", **_POINTS}, quick=_QUICK)
SERIES = 1_000_000
BUCKETS = 2_000

SCENARIO = Scenario(
    name="server_history",
    title=f"Metric history of {POINTS:,} points over HTTP",
    section="Server over HTTP",
    module=__name__,
    about=(
        f"Milliseconds to read a {POINTS:,}-point metric ({QUICK_POINTS:,} with `--quick`) "
        "through a server started fresh on a store that already holds it (stored in-process "
        "by each tool's client before the server starts, untimed), "
        f"`--workers {_W}`. The figure is the first read; a second one is listed below. Row 1: "
        "MLflow's client, `MlflowClient.get_metric_history` (a list of `Metric` objects), "
        "against both servers, the same client code in MLflow's interpreter. Row 2: runbase's "
        "own client, `Client.get_metric_arrays` (numpy arrays), against the same MLflow "
        f"figure. Row 3, runbase only: chart data of a {SERIES:,}-point series as {BUCKETS:,} "
        "min/max buckets from the native API (`GET /api/v1/runs/{run}/metrics/{key}"
        f"?buckets={BUCKETS}`, what the UI asks for; httpx on a kept-alive connection), the "
        f"median of {BUCKET_READS} reads; MLflow has no such call."
    ),
    figures=(
        Figure(
            "`MlflowClient.get_metric_history`, same client",
            "ms",
            "lower",
            Case(
                "runbase",
                "mlflow_client_history",
                {"server": "runbase", **_POINTS},
                quick=_QUICK,
                interpreter="mlflow",
            ),
            _MLFLOW,
        ),
        Figure(
            "runbase client `get_metric_arrays`",
            "ms",
            "lower",
            Case("runbase", "runbase_client_arrays", _POINTS, quick=_QUICK),
            _MLFLOW,
        ),
        Figure(
            f"chart data: {BUCKETS:,} buckets of a {SERIES:,}-point series (runbase only)",
            "ms",
            "lower",
            Case(
                "runbase",
                "runbase_buckets",
                {"points": SERIES, "buckets": BUCKETS, "workers": _W},
            ),
            None,
            Target("<=", 30.0, "≤ 30 ms"),
        ),
    ),
)
