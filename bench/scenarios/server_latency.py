"""``log_metric`` over HTTP: what one call costs a training loop that logs to a server."""

from __future__ import annotations

import time

from scenarios import _servers
from scenarios._spec import Case, Figure, Result, Scenario, Tool

KEY = "loss"


def mlflow_client_calls(server: Tool, n: int, workers: int) -> Result:
    """``MlflowClient.log_metric`` against ``server``: run in MLflow's interpreter for both
    servers, so the client code is the same and the difference is the server's."""
    import mlflow

    experiment_id = _servers.prepare(server)
    with _servers.serve(server, workers) as srv:
        client = mlflow.MlflowClient(tracking_uri=srv.url)
        run_id = client.create_run(experiment_id).info.run_id
        start = time.perf_counter()
        client.log_metric(run_id, "warmup", 0.0, step=0)  # opens the connection
        first = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(n):
            client.log_metric(run_id, KEY, i * 0.001, step=i)
        calls = time.perf_counter() - start
        client.set_terminated(run_id)
        stored = len(client.get_metric_history(run_id, KEY))
    _servers.check(stored == n, f"{server} server stored {stored} points, expected {n}")
    return {"value": calls / n * 1e3, "first_call_ms": first * 1e3, **_servers.timings(srv)}


def runbase_client_calls(n: int, workers: int) -> Result:
    """runbase's own client on runbase's server: fluent ``log_metric`` calls, then ``end_run``,
    which returns once every point is stored. The figure spreads both over the calls."""
    import runbase

    _servers.prepare("runbase")
    _servers.spool_here()
    with _servers.serve("runbase", workers) as srv:
        runbase.set_tracking_uri(srv.url)
        runbase.set_experiment(_servers.experiment())
        run_id = runbase.start_run().info.run_id
        runbase.log_metric("warmup", 0.0, step=0)
        start = time.perf_counter()
        for i in range(n):
            runbase.log_metric(KEY, i * 0.001, step=i)
        calls = time.perf_counter() - start
        start = time.perf_counter()
        runbase.end_run()
        end_run = time.perf_counter() - start
        reader = runbase.Client(srv.url)
        stored = len(reader.get_metric_arrays(run_id, KEY).values)
        reader.close()
    _servers.check(stored == n, f"runbase server stored {stored} points, expected {n}")
    return {
        "value": (calls + end_run) / n * 1e3,
        "call_us": calls / n * 1e6,
        "end_run_ms": end_run * 1e3,
        **_servers.timings(srv),
    }


# The same number of calls against both servers: the figure is a per-call cost, and at MLflow's
# tens of milliseconds a few hundred calls already give a stable mean.
_CALLS = {"n": 300}
_QUICK_CALLS = {"n": 50}


def _same_client(workers: int) -> tuple[Case, Case]:
    """MLflow's client against runbase's server, and against MLflow's."""
    runbase = Case(
        "runbase",
        "mlflow_client_calls",
        {"server": "runbase", **_CALLS, "workers": workers},
        quick=_QUICK_CALLS,
        interpreter="mlflow",
    )
    mlflow = Case(
        "mlflow",
        "mlflow_client_calls",
        {"server": "mlflow", **_CALLS, "workers": workers},
        quick=_QUICK_CALLS,
    )
    return runbase, mlflow


_WORKERS = _servers.WORKERS

SCENARIO = Scenario(
    name="server_latency",
    title="`log_metric` over HTTP",
    section="Server over HTTP",
    module=__name__,
    about=(
        "Milliseconds per `log_metric(run_id, key, value, step=i)` call against a server "
        "started fresh for the measurement (SQLite store, the same flags for both). Rows 1-2: "
        "MLflow's own client, `MlflowClient().log_metric`, against `runbase server` and "
        "against `mlflow server`: the same client code in the same interpreter (MLflow's), so "
        "the difference is the server's; each call waits for its answer. With "
        f"`--workers {_WORKERS}` (PRODUCT.md's baseline) and with `--workers 1`: both servers "
        "run uvicorn, whose several-worker mode listens on a socket without `TCP_NODELAY`, so "
        "each answer on a kept-alive connection waits ~40 ms for the client's delayed ACK; "
        "with one worker that stall is gone and the rest is each server's own cost. Row 3: "
        "runbase's own client (`runbase.set_tracking_uri(url)`, fluent `log_metric` calls, "
        "then `end_run`, which returns once every point is stored), the time of both spread "
        "over the calls, against the same MLflow figure. The first call of a client, which "
        "opens the connection, is not in the figures."
    ),
    figures=(
        Figure(
            f"`MlflowClient.log_metric` per call, same client (`--workers {_WORKERS}`)",
            "ms",
            "lower",
            *_same_client(_WORKERS),
        ),
        Figure(
            "`MlflowClient.log_metric` per call, same client (`--workers 1`)",
            "ms",
            "lower",
            *_same_client(1),
            quick=False,
        ),
        Figure(
            f"runbase client `log_metric` per call until `end_run` (`--workers {_WORKERS}`)",
            "ms",
            "lower",
            Case(
                "runbase",
                "runbase_client_calls",
                {"n": 100_000, "workers": _WORKERS},
                quick={"n": 20_000},
            ),
            _same_client(_WORKERS)[1],
        ),
    ),
)
