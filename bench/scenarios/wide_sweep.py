"""A wide sweep: 10,000 runs × 100 params × 50 metrics × 100 steps, logged as a sweep's trials
log them, on the embedded SQLite store."""

from __future__ import annotations

import time

from scenarios import _stores
from scenarios._spec import Case, Figure, Result, Scenario, Target

PARAMS = 100
METRICS = 50
STEPS = 100
#: MLflow's ``log_batch`` limits: metrics and params per call.
MLFLOW_METRICS_PER_CALL = 1_000
MLFLOW_PARAMS_PER_CALL = 100
#: Runs whose every point is counted after the sweep (untimed); the others by their number.
CHECKED = 10

PARAM_KEYS = [f"model.layer_{k:02d}.width" for k in range(PARAMS)]
METRIC_KEYS = [f"metric_{k:02d}" for k in range(METRICS)]


def params_of(run: int) -> dict[str, int]:
    """A flattened config: values vary between runs, as a sweep's do."""
    return {key: (run * (k + 7)) % 257 for k, key in enumerate(PARAM_KEYS)}


def metrics_of(run: int, step: int) -> dict[str, float]:
    return {key: (run + 1) / (step + k + 1) for k, key in enumerate(METRIC_KEYS)}


def _result(runs: int, steps: int, seconds: float) -> Result:
    return {
        "value": seconds / runs * 1e3,
        "points_per_s": runs * steps * METRICS / seconds,
        "total_s": seconds,
        "runs": runs,
    }


def _sample(run_ids: list[str]) -> list[str]:
    """The runs whose points are all counted: spread over the sweep, the last one included."""
    step = max(1, len(run_ids) // CHECKED)
    return sorted(set(run_ids[::step][:CHECKED]) | {run_ids[-1]})


# -- fluent: how a training script logs --------------------------------------------------------
def runbase_fluent(runs: int, steps: int) -> Result:
    """``start_run``, ``log_params`` (100), ``log_metrics`` (50) once per step, ``end_run``."""
    import runbase

    _stores.runbase_fluent()
    run_ids = []
    start = time.perf_counter()
    for run in range(runs):
        run_ids.append(runbase.start_run(run_name=f"trial-{run:05d}").info.run_id)
        runbase.log_params(params_of(run))
        for step in range(steps):
            runbase.log_metrics(metrics_of(run, step), step=step)
        runbase.end_run()
    seconds = time.perf_counter() - start
    _check_runbase(run_ids, steps)
    return _result(runs, steps, seconds)


def mlflow_fluent(runs: int, steps: int) -> Result:
    """The same with MLflow's fluent API (synchronous, its default)."""
    import mlflow

    _stores.mlflow_fluent()
    run_ids = []
    start = time.perf_counter()
    for run in range(runs):
        run_ids.append(mlflow.start_run(run_name=f"trial-{run:05d}").info.run_id)
        mlflow.log_params(params_of(run))
        for step in range(steps):
            mlflow.log_metrics(metrics_of(run, step), step=step)
        mlflow.end_run()
    seconds = time.perf_counter() - start
    _check_mlflow(run_ids, steps)
    return _result(runs, steps, seconds)


# -- bulk: a whole run in as few calls as the API allows ----------------------------------------
def runbase_bulk(runs: int, steps: int) -> Result:
    """``Client.create_run``, one ``log_batch`` with every param and point, ``set_terminated``."""
    import runbase
    from runbase.entities import Metric, Param

    client = runbase.Client(_stores.runbase_path())
    experiment_id = client.create_experiment(_stores.EXPERIMENT)
    stamp = int(time.time() * 1000)
    run_ids = []
    start = time.perf_counter()
    for run in range(runs):
        run_id = client.create_run(experiment_id, run_name=f"trial-{run:05d}")
        run_ids.append(run_id.info.run_id)
        metrics = [
            Metric(key, value, stamp, step)
            for step in range(steps)
            for key, value in metrics_of(run, step).items()
        ]
        params = [Param(k, str(v)) for k, v in params_of(run).items()]
        client.log_batch(run_ids[-1], metrics=metrics, params=params)
        client.set_terminated(run_ids[-1])
    client.flush()
    seconds = time.perf_counter() - start
    client.close()
    _check_runbase(run_ids, steps)
    return _result(runs, steps, seconds)


def mlflow_bulk(runs: int, steps: int) -> Result:
    """``MlflowClient.create_run``, ``log_batch`` within its limits (100 params, then 1,000
    metrics per call), ``set_terminated``."""
    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient(tracking_uri=_stores.mlflow_uri())
    experiment_id = client.create_experiment(_stores.EXPERIMENT)
    stamp = int(time.time() * 1000)
    run_ids = []
    start = time.perf_counter()
    for run in range(runs):
        run_id = client.create_run(experiment_id, run_name=f"trial-{run:05d}")
        run_ids.append(run_id.info.run_id)
        metrics = [
            Metric(key, value, stamp, step)
            for step in range(steps)
            for key, value in metrics_of(run, step).items()
        ]
        params = [Param(k, str(v)) for k, v in params_of(run).items()]
        for first in range(0, len(params), MLFLOW_PARAMS_PER_CALL):
            client.log_batch(run_ids[-1], params=params[first : first + MLFLOW_PARAMS_PER_CALL])
        for first in range(0, len(metrics), MLFLOW_METRICS_PER_CALL):
            batch = metrics[first : first + MLFLOW_METRICS_PER_CALL]
            client.log_batch(run_ids[-1], metrics=batch)
        client.set_terminated(run_ids[-1])
    seconds = time.perf_counter() - start
    _check_mlflow(run_ids, steps)
    return _result(runs, steps, seconds)


# -- checks, untimed ---------------------------------------------------------------------------
def _check_runbase(run_ids: list[str], steps: int) -> None:
    """Every run is there, finished, with its params; a sample has every point."""
    import runbase

    client = runbase.Client(_stores.runbase_path())
    experiment = client.get_experiment_by_name(_stores.EXPERIMENT)
    assert experiment is not None
    found = client.store.experiment_summaries()
    count = next(
        s.run_count for s in found if s.experiment.experiment_id == experiment.experiment_id
    )
    _check(count == len(run_ids), f"runbase stored {count} runs, expected {len(run_ids)}")
    for run_id in _sample(run_ids):
        run = client.get_run(run_id)
        _check(len(run.data.params) == PARAMS, f"runbase run has {len(run.data.params)} params")
        _check(run.info.status == "FINISHED", f"runbase run is {run.info.status}")
        for key in METRIC_KEYS:
            stored = len(client.get_metric_arrays(run_id, key).values)
            _check(stored == steps, f"runbase stored {stored} points of {key}, expected {steps}")
    client.close()


def _check_mlflow(run_ids: list[str], steps: int) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=_stores.mlflow_uri())
    for run_id in run_ids:  # MLflow's workloads are small: every run, every point
        run = client.get_run(run_id)
        _check(len(run.data.params) == PARAMS, f"MLflow run has {len(run.data.params)} params")
        _check(run.info.status == "FINISHED", f"MLflow run is {run.info.status}")
        for key in METRIC_KEYS:
            stored = len(client.get_metric_history(run_id, key))
            _check(stored == steps, f"MLflow stored {stored} points of {key}, expected {steps}")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(message)


RUNS = 10_000
QUICK_RUNS = 100
#: MLflow takes seconds per run here (a transaction per step): hours for 10,000 runs.
MLFLOW_RUNS = 20
MLFLOW_QUICK_RUNS = 2
#: The bulk row is a rate too: runbase logs fewer runs than the whole sweep.
BULK_RUNS = 2_000
_W = {"steps": STEPS}

_RUNBASE_FLUENT = Case(
    "runbase", "runbase_fluent", {"runs": RUNS, **_W}, quick={"runs": QUICK_RUNS}
)
_MLFLOW_FLUENT = Case(
    "mlflow", "mlflow_fluent", {"runs": MLFLOW_RUNS, **_W}, quick={"runs": MLFLOW_QUICK_RUNS}
)

SCENARIO = Scenario(
    name="wide_sweep",
    title=f"A wide sweep: {RUNS:,} runs × {PARAMS} params × {METRICS} metrics × {STEPS} steps",
    section="Client, embedded SQLite store",
    module=__name__,
    about=(
        f"The time to log a sweep on the embedded SQLite store: each run {PARAMS} params (a "
        f"flattened config) and {METRICS} metrics at each of {STEPS} steps "
        f"({METRICS * STEPS:,} points). runbase logs the whole sweep, {RUNS:,} runs "
        f"({QUICK_RUNS} with `--quick`; `total_s` below is the time for all of them); MLflow "
        f"takes seconds per run here, hours for the sweep, so it logs {MLFLOW_RUNS} "
        f"runs ({MLFLOW_QUICK_RUNS} with `--quick`) and the figures are per run and per point. "
        "Fluent rows: `start_run`, `log_params` (the dict), `log_metrics` once per step, "
        "`end_run`, as a training script does (MLflow synchronous, its default). Bulk row: "
        "each run in as few client calls as the API allows, `create_run`, `log_batch`, "
        "`set_terminated`: runbase one `log_batch` with every param and point, MLflow within "
        f"its limits ({MLFLOW_PARAMS_PER_CALL} params, then {MLFLOW_METRICS_PER_CALL:,} "
        f"metrics per call); runbase logs {BULK_RUNS:,} runs there ({QUICK_RUNS} with "
        "`--quick`). The clock runs from the first call to the last run's end. Checked "
        "afterwards, untimed: the number of runs, and for MLflow every point of every run, "
        f"for runbase every point of {CHECKED} runs spread over the sweep."
    ),
    figures=(
        Figure("fluent, per run", "ms", "lower", _RUNBASE_FLUENT, _MLFLOW_FLUENT),
        Figure(
            "fluent, metric points per second",
            "points/s",
            "higher",
            _RUNBASE_FLUENT,
            _MLFLOW_FLUENT,
            Target(">=", 1_000_000, "≥ 1,000,000 points/s"),
            field="points_per_s",
        ),
        Figure(
            "bulk (`create_run` + `log_batch` + `set_terminated`), per run",
            "ms",
            "lower",
            Case("runbase", "runbase_bulk", {"runs": BULK_RUNS, **_W}, quick={"runs": QUICK_RUNS}),
            Case(
                "mlflow",
                "mlflow_bulk",
                {"runs": MLFLOW_RUNS, **_W},
                quick={"runs": MLFLOW_QUICK_RUNS},
            ),
        ),
    ),
    repeats=1,
    timeout=3_600.0,
)
