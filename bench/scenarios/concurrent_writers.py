"""Many writers at once: 32 processes logging to one embedded SQLite store, and 8 client
processes logging to one server. Points per second over all of them, and a check that nothing
failed and nothing was lost: every point is counted in the store afterwards."""

from __future__ import annotations

import time

from scenarios import _parallel, _servers, _stores
from scenarios._spec import Case, Figure, Result, Scenario, Tool

KEYS = 10
#: Metrics per ``log_batch`` call of MLflow's client (its limit).
BLOCK = 1_000
_LOCKED = "database is locked"


def _keys() -> list[str]:
    return [f"metric_{k}" for k in range(KEYS)]


def _summary(results: list[Result], expected: int, stored: int) -> Result:
    """Points per second over the span of all processes, with what failed or went missing."""
    seconds = _parallel.span(results)
    errors = sum(int(r["errors"]) for r in results)
    locked = sum(r["stderr"].count(_LOCKED) + int(r["locked"]) for r in results)
    return {
        "value": stored / seconds,
        "seconds": seconds,
        "processes": len(results),
        "points_expected": expected,
        "points_stored": stored,
        "points_lost": expected - stored,
        "failed_calls": errors,
        "database_is_locked": locked,
        "first_error": next((r["first_error"] for r in results if r["first_error"]), ""),
    }


def _outcome(errors: list[str]) -> Result:
    return {
        "errors": len(errors),
        "locked": sum(_LOCKED in e for e in errors),
        "first_error": errors[0][:500] if errors else "",
    }


# -- embedded: processes logging to one SQLite file ---------------------------------------------
def runbase_process(path: str, steps: int) -> Result:
    """One training process: fluent ``start_run``, a ``log_metrics`` loop, ``end_run``."""
    import runbase

    runbase.set_tracking_uri(path)
    runbase.set_experiment(_stores.EXPERIMENT)
    run_id = runbase.start_run().info.run_id
    names = _keys()
    errors: list[str] = []
    start = _parallel.ready()
    for step in range(steps):
        try:
            runbase.log_metrics(dict.fromkeys(names, step * 0.001), step=step)
        except Exception as exc:  # counted: the figure reports failures, not only speed
            errors.append(repr(exc))
    try:
        runbase.end_run()
    except Exception as exc:
        errors.append(repr(exc))
    return {"run_id": run_id, "start": start, "end": _parallel.clock(), **_outcome(errors)}


def mlflow_process(uri: str, steps: int) -> Result:
    """The same with MLflow's fluent API (synchronous, its default)."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(_stores.EXPERIMENT)
    run_id = mlflow.start_run().info.run_id
    names = _keys()
    errors: list[str] = []
    start = _parallel.ready()
    for step in range(steps):
        try:
            mlflow.log_metrics(dict.fromkeys(names, step * 0.001), step=step)
        except Exception as exc:
            errors.append(repr(exc))
    try:
        mlflow.end_run()
    except Exception as exc:
        errors.append(repr(exc))
    return {"run_id": run_id, "start": start, "end": _parallel.clock(), **_outcome(errors)}


def runbase_embedded(processes: int, steps: int) -> Result:
    import runbase

    _stores.runbase_fluent()  # the store and its experiment, before any process starts
    path = _stores.runbase_path()
    params = [{"path": path, "steps": steps}] * processes
    results = _parallel.run("runbase", __name__, "runbase_process", params)
    client = runbase.Client(path)
    stored = sum(
        len(client.get_metric_arrays(r["run_id"], key).values) for r in results for key in _keys()
    )
    client.close()
    return _summary(results, processes * steps * KEYS, stored)


def mlflow_embedded(processes: int, steps: int) -> Result:
    import mlflow

    _stores.mlflow_fluent()  # migrations and the experiment, before any process starts
    params = [{"uri": _stores.mlflow_uri(), "steps": steps}] * processes
    results = _parallel.run("mlflow", __name__, "mlflow_process", params)
    client = mlflow.MlflowClient(tracking_uri=_stores.mlflow_uri())
    stored = sum(
        len(client.get_metric_history(r["run_id"], key)) for r in results for key in _keys()
    )
    return _summary(results, processes * steps * KEYS, stored)


# -- a server: client processes logging over HTTP ----------------------------------------------
def mlflow_client_process(url: str, experiment_id: str, steps: int) -> Result:
    """MLflow's client: ``log_batch`` of 1,000 metrics per call into a run of its own, then
    ``set_terminated`` (against either server)."""
    import mlflow
    from mlflow.entities import Metric

    client = mlflow.MlflowClient(tracking_uri=url)
    run_id = client.create_run(experiment_id).info.run_id
    stamp = int(time.time() * 1000)
    points = [Metric(key, step * 0.001, stamp, step) for step in range(steps) for key in _keys()]
    batches = [points[i : i + BLOCK] for i in range(0, len(points), BLOCK)]
    errors: list[str] = []
    start = _parallel.ready()
    for batch in batches:
        try:
            client.log_batch(run_id, metrics=batch)
        except Exception as exc:
            errors.append(repr(exc))
    try:
        client.set_terminated(run_id)
    except Exception as exc:
        errors.append(repr(exc))
    return {"run_id": run_id, "start": start, "end": _parallel.clock(), **_outcome(errors)}


def runbase_client_process(url: str, steps: int) -> Result:
    """runbase's own client on the server: fluent ``log_metrics`` loop until ``end_run``."""
    _servers.spool_here()
    return runbase_process(url, steps)


def mlflow_client_server(server: Tool, clients: int, steps: int, workers: int) -> Result:
    """``clients`` processes of MLflow's client against ``server`` (MLflow's interpreter)."""
    import mlflow

    experiment_id = _servers.prepare(server)
    with _servers.serve(server, workers) as srv:
        params = [{"url": srv.url, "experiment_id": experiment_id, "steps": steps}] * clients
        results = _parallel.run("mlflow", __name__, "mlflow_client_process", params)
        client = mlflow.MlflowClient(tracking_uri=srv.url)
        stored = sum(
            len(client.get_metric_history(r["run_id"], key)) for r in results for key in _keys()
        )
    return {**_summary(results, clients * steps * KEYS, stored), **_servers.timings(srv)}


def runbase_client_server(clients: int, steps: int, workers: int) -> Result:
    """``clients`` processes of runbase's own client against runbase's server."""
    import runbase

    _servers.prepare("runbase")
    _servers.spool_here()
    with _servers.serve("runbase", workers) as srv:
        params = [{"url": srv.url, "steps": steps}] * clients
        results = _parallel.run("runbase", __name__, "runbase_client_process", params)
        client = runbase.Client(srv.url)
        stored = sum(
            len(client.get_metric_arrays(r["run_id"], key).values)
            for r in results
            for key in _keys()
        )
        client.close()
    return {**_summary(results, clients * steps * KEYS, stored), **_servers.timings(srv)}


PROCESSES = 32
QUICK_PROCESSES = 4
CLIENTS = 8
_W = _servers.WORKERS
# MLflow's synchronous log_metrics is a transaction per step: a few ms alone, far more when 32
# processes queue for SQLite's write lock, so it logs fewer steps. Rates, not totals, compare.
_RUNBASE_STEPS, _MLFLOW_STEPS = 5_000, 50
_SERVER_MLFLOW_STEPS = 500
_SERVER_RUNBASE_STEPS = 10_000
_MLFLOW_SERVER = Case(
    "mlflow",
    "mlflow_client_server",
    {"server": "mlflow", "clients": CLIENTS, "steps": _SERVER_MLFLOW_STEPS, "workers": _W},
)

SCENARIO = Scenario(
    name="concurrent_writers",
    title="Many writers at once",
    section="Concurrency",
    module=__name__,
    about=(
        f"Points per second over all writers together, {KEYS} metric keys per step, each writer "
        "a process of its own logging into a run of its own. Every process starts, imports its "
        "tool and creates its run first; once all are ready they are let go together, and the "
        "span from the first start to the last `end_run` (or `set_terminated`) is the time. "
        "Then every point is counted in the store: `points_lost` below must be 0, and "
        "`failed_calls` / `database_is_locked` count the logging calls that raised and the "
        "`database is locked` errors seen (in exceptions or error output). Embedded: "
        f"{PROCESSES} processes ({QUICK_PROCESSES} with `--quick`) on one SQLite file, the "
        f"fluent API, `start_run`, a `log_metrics` loop ({_RUNBASE_STEPS:,} steps for runbase, "
        f"{_MLFLOW_STEPS} for MLflow, whose synchronous calls each take a transaction; 20 with "
        "`--quick`), `end_run`. Server: "
        f"{CLIENTS} client processes against a server started fresh (`--workers {_W}`, "
        "SQLite): MLflow's client (`log_batch`, 1,000 metrics per call) against both servers, "
        f"{_SERVER_MLFLOW_STEPS} steps per client, the same client code in MLflow's "
        "interpreter; and runbase's own client (fluent `log_metrics` loop until `end_run`, "
        f"{_SERVER_RUNBASE_STEPS:,} steps per client) against MLflow's client on MLflow's server. "
        "The server rows are left out of `--quick` runs, which then start no server here."
    ),
    figures=(
        Figure(
            f"{PROCESSES} processes ({QUICK_PROCESSES} with `--quick`), one SQLite store, "
            "fluent `log_metrics` loop",
            "points/s",
            "higher",
            Case(
                "runbase",
                "runbase_embedded",
                {"processes": PROCESSES, "steps": _RUNBASE_STEPS},
                quick={"processes": QUICK_PROCESSES},
            ),
            Case(
                "mlflow",
                "mlflow_embedded",
                {"processes": PROCESSES, "steps": _MLFLOW_STEPS},
                quick={"processes": QUICK_PROCESSES, "steps": 20},
            ),
        ),
        Figure(
            f"{CLIENTS} clients, one server: `MlflowClient.log_batch`, same client",
            "points/s",
            "higher",
            Case(
                "runbase",
                "mlflow_client_server",
                {
                    "server": "runbase",
                    "clients": CLIENTS,
                    "steps": _SERVER_MLFLOW_STEPS,
                    "workers": _W,
                },
                interpreter="mlflow",
            ),
            _MLFLOW_SERVER,
            quick=False,
        ),
        Figure(
            f"{CLIENTS} clients, one server: runbase client `log_metrics` loop until `end_run`",
            "points/s",
            "higher",
            Case(
                "runbase",
                "runbase_client_server",
                {"clients": CLIENTS, "steps": _SERVER_RUNBASE_STEPS, "workers": _W},
            ),
            _MLFLOW_SERVER,
            quick=False,
        ),
    ),
    repeats=1,
    timeout=1_800.0,
)
