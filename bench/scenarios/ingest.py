"""Sustained ingest: points per second from the first call until the run has ended, when
every point is in the store."""

from __future__ import annotations

import time

from scenarios import _stores
from scenarios._spec import Case, Figure, Result, Scenario, Target

#: Points per ``log_batch`` call on MLflow's side, and per ``log_metric_series`` call on runbase's.
BLOCK = 1_000


def _keys(count: int) -> list[str]:
    return [f"metric_{k}" for k in range(count)]


def runbase_loop(keys: int, steps: int) -> Result:
    import runbase

    _stores.runbase_fluent()
    run_id = runbase.start_run().info.run_id
    names = _keys(keys)
    start = time.perf_counter()
    for step in range(steps):
        for key in names:
            runbase.log_metric(key, step * 0.001, step=step)
    runbase.end_run()
    elapsed = time.perf_counter() - start
    _check_runbase(run_id, names[-1], steps)
    return _rate(keys * steps, elapsed)


def mlflow_loop(keys: int, steps: int, synchronous: bool) -> Result:
    import mlflow

    _stores.mlflow_fluent()
    run_id = mlflow.start_run().info.run_id
    names = _keys(keys)
    start = time.perf_counter()
    for step in range(steps):
        for key in names:
            mlflow.log_metric(key, step * 0.001, step=step, synchronous=synchronous)
    mlflow.end_run()  # waits for the async queue, so the clock stops once all is stored
    elapsed = time.perf_counter() - start
    _check_mlflow(run_id, names[-1], steps)
    return _rate(keys * steps, elapsed)


def runbase_series(keys: int, steps: int, block: int) -> Result:
    import numpy as np

    client, run_id = _stores.runbase_client()
    names = _keys(keys)
    # Inputs are built before the clock starts, on both sides: the figure is the logging path.
    blocks = [
        (key, np.arange(first, min(first + block, steps), dtype=np.int64))
        for first in range(0, steps, block)
        for key in names
    ]
    start = time.perf_counter()
    for key, block_steps in blocks:
        client.log_metric_series(run_id, key, block_steps * 0.001, steps=block_steps)
    client.set_terminated(run_id)
    elapsed = time.perf_counter() - start
    client.close()
    _check_runbase(run_id, names[-1], steps)
    return _rate(keys * steps, elapsed)


def mlflow_batch(keys: int, steps: int) -> Result:
    from mlflow.entities import Metric

    client, run_id = _stores.mlflow_client()
    names = _keys(keys)
    stamp = int(time.time() * 1000)
    points = [Metric(key, step * 0.001, stamp, step) for step in range(steps) for key in names]
    batches = [points[i : i + BLOCK] for i in range(0, len(points), BLOCK)]
    start = time.perf_counter()
    for batch in batches:
        client.log_batch(run_id, metrics=batch)
    client.set_terminated(run_id)
    elapsed = time.perf_counter() - start
    _check_mlflow(run_id, names[-1], steps)
    return _rate(keys * steps, elapsed)


def _rate(points: int, seconds: float) -> Result:
    return {"value": points / seconds, "seconds": seconds}


def _check_runbase(run_id: str, key: str, steps: int) -> None:
    """Untimed: a figure only counts if the points really are in the store."""
    import runbase

    client = runbase.Client(_stores.runbase_path())
    stored = len(client.get_metric_arrays(run_id, key).values)
    client.close()
    if stored != steps:
        raise RuntimeError(f"runbase stored {stored} points of {key}, expected {steps}")


def _check_mlflow(run_id: str, key: str, steps: int) -> None:
    import mlflow

    stored = len(mlflow.MlflowClient(_stores.mlflow_uri()).get_metric_history(run_id, key))
    if stored != steps:
        raise RuntimeError(f"MLflow stored {stored} points of {key}, expected {steps}")


_TARGET = Target(">=", 1_000_000, "≥ 1,000,000 points/s")
# Ten keys per step, as a training loop logs losses, learning rate and timings together. MLflow
# gets fewer points: at its rates, runbase's point counts would take tens of minutes.
_RUNBASE_STEPS = 100_000
_RUNBASE_QUICK_STEPS = 20_000


def _series(block: int) -> Case:
    full = {"keys": 10, "steps": _RUNBASE_STEPS, "block": block}
    quick = {"steps": _RUNBASE_QUICK_STEPS, "block": min(block, _RUNBASE_QUICK_STEPS)}
    return Case("runbase", "runbase_series", full, quick=quick)


_MLFLOW_BATCH = Case("mlflow", "mlflow_batch", {"keys": 10, "steps": 5_000}, quick={"steps": 1_000})
_RUNBASE_LOOP = Case(
    "runbase",
    "runbase_loop",
    {"keys": 10, "steps": _RUNBASE_STEPS},
    quick={"steps": _RUNBASE_QUICK_STEPS},
)

SCENARIO = Scenario(
    name="ingest",
    title="Sustained ingest",
    section="Client, embedded SQLite store",
    module=__name__,
    about=(
        "Points per second, from the first logging call until the run has ended and every "
        "point is stored (checked afterwards, untimed). Ten metric keys per step. Rows: a "
        "`log_metric` loop (MLflow synchronous, then `synchronous=False`, whose `end_run` waits "
        "for its queue), and the bulk paths: runbase `Client.log_metric_series` vs MLflow "
        f"`MlflowClient.log_batch` with {BLOCK:,} metrics per call (its limit), runbase both in "
        f"{BLOCK:,}-point blocks and one call per whole series."
    ),
    figures=(
        Figure(
            "`log_metric` loop until `end_run` (MLflow synchronous)",
            "points/s",
            "higher",
            _RUNBASE_LOOP,
            Case(
                "mlflow",
                "mlflow_loop",
                {"keys": 10, "steps": 100, "synchronous": True},
                quick={"steps": 30},
            ),
            _TARGET,
        ),
        Figure(
            "`log_metric` loop until `end_run` (MLflow `synchronous=False`)",
            "points/s",
            "higher",
            _RUNBASE_LOOP,
            Case(
                "mlflow",
                "mlflow_loop",
                {"keys": 10, "steps": 100, "synchronous": False},
                quick={"steps": 30},
            ),
            _TARGET,
        ),
        Figure(
            f"bulk, {BLOCK:,} points per call: `log_metric_series` vs `log_batch`",
            "points/s",
            "higher",
            _series(BLOCK),
            _MLFLOW_BATCH,
            _TARGET,
        ),
        Figure(
            f"bulk, whole series per `log_metric_series` call vs `log_batch` ({BLOCK:,})",
            "points/s",
            "higher",
            _series(_RUNBASE_STEPS),
            _MLFLOW_BATCH,
            _TARGET,
        ),
    ),
)
