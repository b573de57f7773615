"""Sustained ingest over HTTP, one client: points per second from the first call until the run
has ended and every point is stored on the server."""

from __future__ import annotations

import time

from scenarios import _servers
from scenarios._spec import Case, Figure, Result, Scenario, Target, Tool

#: Metrics per ``log_batch`` call (MLflow's limit), and points per ``log_metric_series`` block.
BLOCK = 1_000
KEYS = 10


def _keys(count: int) -> list[str]:
    return [f"metric_{k}" for k in range(count)]


def mlflow_client_batch(server: Tool, keys: int, steps: int, workers: int) -> Result:
    """``MlflowClient.log_batch`` with 1,000 metrics per call against ``server``, then
    ``set_terminated``; the same client code (MLflow's interpreter) for both servers."""
    import mlflow
    from mlflow.entities import Metric

    experiment_id = _servers.prepare(server)
    names = _keys(keys)
    stamp = int(time.time() * 1000)
    points = [Metric(key, step * 0.001, stamp, step) for step in range(steps) for key in names]
    batches = [points[i : i + BLOCK] for i in range(0, len(points), BLOCK)]
    with _servers.serve(server, workers) as srv:
        client = mlflow.MlflowClient(tracking_uri=srv.url)
        run_id = client.create_run(experiment_id).info.run_id
        # A worker's first request of a kind pays one-off costs (imports, caches): not timed.
        client.log_batch(run_id, metrics=[Metric("warmup", 0.0, stamp, 0)])
        start = time.perf_counter()
        for batch in batches:
            client.log_batch(run_id, metrics=batch)
        client.set_terminated(run_id)
        elapsed = time.perf_counter() - start
        stored = len(client.get_metric_history(run_id, names[-1]))
    _servers.check(stored == steps, f"{server} server stored {stored} points, expected {steps}")
    return _rate(keys * steps, elapsed, srv)


def runbase_client_loop(keys: int, steps: int, workers: int) -> Result:
    """runbase's own client, fluent ``log_metric`` calls until ``end_run`` returned."""
    import runbase

    _servers.prepare("runbase")
    _servers.spool_here()
    names = _keys(keys)
    with _servers.serve("runbase", workers) as srv:
        runbase.set_tracking_uri(srv.url)
        runbase.set_experiment(_servers.experiment())
        run_id = runbase.start_run().info.run_id
        start = time.perf_counter()
        for step in range(steps):
            for key in names:
                runbase.log_metric(key, step * 0.001, step=step)
        runbase.end_run()
        elapsed = time.perf_counter() - start
        _check_runbase(srv.url, run_id, names[-1], steps)
    return _rate(keys * steps, elapsed, srv)


def runbase_client_series(keys: int, steps: int, block: int, workers: int) -> Result:
    """runbase's own client, ``Client.log_metric_series`` in blocks of ``block`` points (each
    call is a request that returns once stored), then ``set_terminated``."""
    import numpy as np

    import runbase

    experiment_id = _servers.prepare("runbase")
    _servers.spool_here()
    names = _keys(keys)
    blocks = [
        (key, np.arange(first, min(first + block, steps), dtype=np.int64))
        for first in range(0, steps, block)
        for key in names
    ]
    with _servers.serve("runbase", workers) as srv:
        client = runbase.Client(srv.url)
        run_id = client.create_run(experiment_id).info.run_id
        start = time.perf_counter()
        for key, block_steps in blocks:
            client.log_metric_series(run_id, key, block_steps * 0.001, steps=block_steps)
        client.set_terminated(run_id)
        elapsed = time.perf_counter() - start
        client.close()
        _check_runbase(srv.url, run_id, names[-1], steps)
    return _rate(keys * steps, elapsed, srv)


def _check_runbase(url: str, run_id: str, key: str, steps: int) -> None:
    import runbase

    client = runbase.Client(url)
    stored = len(client.get_metric_arrays(run_id, key).values)
    client.close()
    _servers.check(stored == steps, f"runbase server stored {stored} points, expected {steps}")


def _rate(points: int, seconds: float, srv: _servers.Server) -> Result:
    return {"value": points / seconds, "seconds": seconds, **_servers.timings(srv)}


_W = _servers.WORKERS
_TARGET = Target(">=", 300_000, "≥ 300,000 points/s")
# MLflow's client and server take about 0.2 ms per point: 50,000 points are ten seconds of it.
# runbase's own client gets more points, so that its figure is not a fraction of a second.
_BATCH = {"keys": KEYS, "steps": 5_000, "workers": _W}
_BATCH_QUICK = {"steps": 1_000}
_MLFLOW = Case("mlflow", "mlflow_client_batch", {"server": "mlflow", **_BATCH}, quick=_BATCH_QUICK)
_MLFLOW_1 = Case(
    "mlflow",
    "mlflow_client_batch",
    {"server": "mlflow", **_BATCH, "workers": 1},
    quick=_BATCH_QUICK,
)
_STEPS = 100_000
_QUICK_STEPS = 20_000


def _series(block: int, workers: int = _W) -> Case:
    full = {"keys": KEYS, "steps": _STEPS, "block": block, "workers": workers}
    quick = {"steps": _QUICK_STEPS, "block": min(block, _QUICK_STEPS)}
    return Case("runbase", "runbase_client_series", full, quick=quick)


SCENARIO = Scenario(
    name="server_ingest",
    title="Sustained ingest over HTTP, one client",
    section="Server over HTTP",
    module=__name__,
    about=(
        "Points per second from the first logging call until the run has ended and every "
        "point is on the server (the count is checked afterwards, untimed); ten metric keys "
        f"per step; each server started fresh (`--workers {_W}` unless a row says otherwise, "
        "SQLite). Row 1: MLflow's client `MlflowClient.log_batch`, "
        f"{BLOCK:,} metrics per call (its limit), against `runbase server` and `mlflow "
        "server`, the same client code in MLflow's interpreter. The other rows are runbase's "
        "own client against its server, compared with MLflow's client against MLflow's "
        "server: a fluent `log_metric` loop until `end_run`, and `Client.log_metric_series` "
        f"in {BLOCK:,}-point blocks (one request each, answered once stored) and one call per "
        "whole series. The target is PRODUCT.md's for one client over HTTP. The "
        f"{BLOCK:,}-point blocks are also measured with `--workers 1`: several uvicorn workers "
        "add ~40 ms of delayed-ACK stall to each answer (see `log_metric` over HTTP); that row "
        "compares with MLflow's server with one worker too."
    ),
    figures=(
        Figure(
            f"`MlflowClient.log_batch` ({BLOCK:,} per call), same client",
            "points/s",
            "higher",
            Case(
                "runbase",
                "mlflow_client_batch",
                {"server": "runbase", **_BATCH},
                quick=_BATCH_QUICK,
                interpreter="mlflow",
            ),
            _MLFLOW,
        ),
        Figure(
            "runbase client `log_metric` loop until `end_run`",
            "points/s",
            "higher",
            Case(
                "runbase",
                "runbase_client_loop",
                {"keys": KEYS, "steps": _STEPS, "workers": _W},
                quick={"steps": _QUICK_STEPS},
            ),
            _MLFLOW,
            _TARGET,
        ),
        Figure(
            f"runbase client `log_metric_series`, {BLOCK:,} points per call",
            "points/s",
            "higher",
            _series(BLOCK),
            _MLFLOW,
            _TARGET,
        ),
        Figure(
            f"runbase client `log_metric_series`, {BLOCK:,} points per call (`--workers 1`)",
            "points/s",
            "higher",
            _series(BLOCK, workers=1),
            _MLFLOW_1,
            _TARGET,
            quick=False,
        ),
        Figure(
            "runbase client `log_metric_series`, whole series per call",
            "points/s",
            "higher",
            _series(_STEPS),
            _MLFLOW,
            _TARGET,
        ),
    ),
)
