"""Search over many runs through the server: a filtered and ordered first page, by MLflow's
client, against each server holding the same runs."""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

from scenarios import _servers
from scenarios._spec import Case, Figure, Result, Scenario, Tool

if TYPE_CHECKING:
    import mlflow

PARAMS = 10
METRICS = 5
FILTER = "params.x = '3' and metrics.m > 0.5"
ORDER_BY = "metrics.m DESC"
PAGE = 100
#: Searches per measurement: the figure is their median.
SEARCHES = 5


# -- the runs, the same for both tools -----------------------------------------------------------
def run_name(i: int) -> str:
    return f"run-{i:05d}"


def params_of(i: int) -> dict[str, str]:
    """``x`` takes ten values; the others vary too, so no column is constant."""
    out = {"x": str(i % 10)}
    out.update({f"p{k}": str(i * (k + 3) % 97) for k in range(1, PARAMS)})
    return out


def metrics_of(i: int) -> dict[str, float]:
    """``m`` is spread over [0, 1) without ties (10,007 is prime), so the order is unique."""
    out = {"m": i * 7_919 % 10_007 / 10_007}
    out.update({f"m{k}": (i * (k + 11)) % 1_009 / 1_009 for k in range(1, METRICS)})
    return out


def expected_page(runs: int) -> list[str]:
    """The names the search must answer, in order."""
    hits = [i for i in range(runs) if params_of(i)["x"] == "3" and metrics_of(i)["m"] > 0.5]
    hits.sort(key=lambda i: metrics_of(i)["m"], reverse=True)
    return [run_name(i) for i in hits[:PAGE]]


# -- building a store in-process (run in the store's own interpreter) ---------------------------
def runbase_build(runs: int) -> Result:
    """``create_run`` + ``log_batch`` (10 params, 5 metrics) per run, with runbase's client on
    the SQLite file the server will serve."""
    import runbase
    from runbase.entities import Metric, Param

    client = runbase.Client(_servers.store_uri("runbase"))
    experiment_id = client.create_experiment(_servers.experiment())
    stamp = int(time.time() * 1000)
    start = time.perf_counter()
    for i in range(runs):
        run_id = client.create_run(
            experiment_id, start_time=stamp, run_name=run_name(i)
        ).info.run_id
        metrics = [Metric(k, v, stamp, 0) for k, v in metrics_of(i).items()]
        params = [Param(k, v) for k, v in params_of(i).items()]
        client.log_batch(run_id, metrics=metrics, params=params)
    client.close()
    return _built(experiment_id, runs, time.perf_counter() - start)


def mlflow_build(runs: int) -> Result:
    """The same with MLflow's client on its SQLite store, in-process (through ``mlflow
    server`` each run would cost about 230 ms: PRODUCT.md's baseline)."""
    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient(tracking_uri=_servers.store_uri("mlflow"))
    experiment_id = client.create_experiment(_servers.experiment())
    stamp = int(time.time() * 1000)
    start = time.perf_counter()
    for i in range(runs):
        run_id = client.create_run(
            experiment_id, start_time=stamp, run_name=run_name(i)
        ).info.run_id
        metrics = [Metric(k, v, stamp, 0) for k, v in metrics_of(i).items()]
        params = [Param(k, v) for k, v in params_of(i).items()]
        client.log_batch(run_id, metrics=metrics, params=params)
    return _built(experiment_id, runs, time.perf_counter() - start)


def _built(experiment_id: str, runs: int, seconds: float) -> Result:
    return {
        "experiment_id": experiment_id,
        "create_s": seconds,
        "create_ms_per_run": seconds / runs * 1e3,
    }


def build(tool: Tool, runs: int) -> Result:
    return _servers.call(tool, __name__, f"{tool}_build", runs=runs)


def search(client: mlflow.MlflowClient, experiment_id: str, expected: list[str]) -> float:
    """One search by MLflow's client; its answer is checked, untimed. Returns seconds."""
    start = time.perf_counter()
    page = client.search_runs([experiment_id], FILTER, order_by=[ORDER_BY], max_results=PAGE)
    elapsed = time.perf_counter() - start
    names = [run.info.run_name for run in page]
    _servers.check(names == expected, f"wrong answer: {names[:3]}… instead of {expected[:3]}…")
    return elapsed


# -- the case --------------------------------------------------------------------------------------
def mlflow_client_search(server: Tool, runs: int, workers: int) -> Result:
    """Build the store, start the server on it, search ``SEARCHES`` times with one client."""
    import mlflow

    built = build(server, runs)
    expected = expected_page(runs)
    with _servers.serve(server, workers) as srv:
        client = mlflow.MlflowClient(tracking_uri=srv.url)
        timings = [search(client, built["experiment_id"], expected) for _ in range(SEARCHES)]
    return {
        "value": statistics.median(timings) * 1e3,
        "first_search_ms": timings[0] * 1e3,
        "create_ms_per_run": built["create_ms_per_run"],
        "create_s": built["create_s"],
        **_servers.timings(srv),
    }


_W = _servers.WORKERS
RUNS = 10_000
QUICK_RUNS = 500


def _case(tool: Tool) -> Case:
    return Case(
        tool,
        "mlflow_client_search",
        {"server": tool, "runs": RUNS, "workers": _W},
        quick={"runs": QUICK_RUNS},
        # MLflow's client for both servers, so runbase's case runs in MLflow's interpreter too.
        interpreter="mlflow" if tool == "runbase" else None,
    )


SCENARIO = Scenario(
    name="server_search",
    title=f"Search over {RUNS:,} runs",
    section="Server over HTTP",
    module=__name__,
    about=(
        f"{RUNS:,} runs ({QUICK_RUNS:,} with `--quick`) × ({PARAMS} params + {METRICS} metrics) "
        "are created in-process with each tool's own client on the SQLite file (`create_run` + "
        "`log_batch` per run; its time is the second row), then the server is started on it "
        f"(`--workers {_W}`) and MLflow's client (`MlflowClient.search_runs`, MLflow's "
        f'interpreter for both) asks for `filter_string="{FILTER}"`, `order_by=["{ORDER_BY}"]`, '
        f"`max_results={PAGE}`: the first page, checked against the expected runs in order. "
        f"The figure is the median of {SEARCHES} searches by one client (the first is listed "
        "below as `first_search_ms`). Building MLflow's store takes minutes, so this scenario "
        "runs once per tool even in a full run."
    ),
    figures=(
        Figure(
            f"filtered + ordered search, first page of {PAGE}",
            "ms",
            "lower",
            _case("runbase"),
            _case("mlflow"),
        ),
        Figure(
            f"creating a run with {PARAMS} params + {METRICS} metrics (setup, in-process)",
            "ms",
            "lower",
            _case("runbase"),
            _case("mlflow"),
            field="create_ms_per_run",
        ),
    ),
    repeats=1,
)
