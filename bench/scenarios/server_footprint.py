"""The server's own cost: time to start and memory held, with four workers, after the search
load of ``server_search``, and while and after it ingests a wide sweep (``wide_sweep``'s runs)
from several clients."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from scenarios import _parallel, _servers, server_search, wide_sweep
from scenarios._spec import Case, Figure, Result, Scenario, Tool

#: Client threads searching at once, and searches each: several connections, so that the
#: kernel hands them to different workers and every worker has served the load.
THREADS = 8
SEARCHES_PER_THREAD = 2


def server_footprint(
    server: Tool, runs: int, workers: int, sweep_runs: int, steps: int, clients: int
) -> Result:
    """Start the server on the store of ``server_search`` (built first, untimed), time it until
    ``/health`` answers, then search from ``THREADS`` threads with MLflow's client and read the
    memory of the server's process tree once it is quiet again; then let it ingest
    ``sweep_runs`` runs of the wide sweep (see :func:`ingest_sweep`)."""
    import mlflow

    built = server_search.build(server, runs)
    expected = server_search.expected_page(runs)
    with _servers.serve(server, workers) as srv:
        idle = _servers.memory(srv)
        client = mlflow.MlflowClient(tracking_uri=srv.url)
        errors: list[BaseException] = []

        def load() -> None:
            try:
                for _ in range(SEARCHES_PER_THREAD):
                    server_search.search(client, built["experiment_id"], expected)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=load) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        loaded = _servers.memory(srv)
        sweep = ingest_sweep(srv, built["experiment_id"], sweep_runs, steps, clients)
    return {
        "value": srv.startup_s,
        "rss_mib": loaded["rss_mib"],
        "pss_mib": loaded["pss_mib"],
        "processes": loaded["processes"],
        "idle_rss_mib": idle["rss_mib"],
        "idle_pss_mib": idle["pss_mib"],
        "quiet_after_load_s": loaded["quiet_s"],
        **sweep,
        **_servers.timings(srv),
    }


# -- memory under a wide sweep ----------------------------------------------------------------
#: Seconds between two looks at the server's memory while it ingests.
SAMPLE_EVERY = 0.5


def sweep_client(url: str, experiment_id: str, first: int, runs: int, steps: int) -> Result:
    """One client process of MLflow's client logging runs of the wide sweep as a training
    script's fluent calls reach a server: ``create_run``, its params in one ``log_batch``, one
    ``log_batch`` of 50 metrics per step, ``set_terminated``."""
    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient(tracking_uri=url)
    start = _parallel.ready()
    for run in range(first, first + runs):
        run_id = client.create_run(experiment_id, run_name=f"trial-{run:05d}").info.run_id
        params = [Param(k, str(v)) for k, v in wide_sweep.params_of(run).items()]
        client.log_batch(run_id, params=params)
        for step in range(steps):
            stamp = int(time.time() * 1000)
            values = wide_sweep.metrics_of(run, step).items()
            client.log_batch(run_id, metrics=[Metric(k, v, stamp, step) for k, v in values])
        client.set_terminated(run_id)
    return {"start": start, "end": _parallel.clock()}


def ingest_sweep(
    srv: _servers.Server, experiment_id: str, runs: int, steps: int, clients: int
) -> Result:
    """``clients`` processes of MLflow's client log ``runs`` runs of the wide sweep into the
    server (MLflow's interpreter for both servers), while the memory of the server's processes
    is sampled; then it is read again once the server is quiet, and the runs are checked."""
    import mlflow

    share = [runs // clients + (1 if n < runs % clients else 0) for n in range(clients)]
    base = {"url": srv.url, "experiment_id": experiment_id, "steps": steps}
    params = [{**base, "first": sum(share[:n]), "runs": count} for n, count in enumerate(share)]
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_EVERY):
            samples.append(_group_memory(srv.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        results = _parallel.run("mlflow", __name__, "sweep_client", params)
    finally:
        done.set()
        sampler.join()
    _servers.check(bool(samples), "no memory sample was taken during the ingest")
    client = mlflow.MlflowClient(tracking_uri=srv.url)
    found = client.search_runs([experiment_id], "attributes.run_name LIKE 'trial-%'")
    _servers.check(len(found) == runs, f"{srv.tool} server has {len(found)} sweep runs, not {runs}")
    last = client.get_metric_history(found[0].info.run_id, wide_sweep.METRIC_KEYS[-1])
    _servers.check(len(last) == steps, f"{srv.tool} server stored {len(last)} of {steps} points")
    after = _servers.memory(srv)
    seconds = _parallel.span(results)
    return {
        "sweep_peak_rss_mib": max(rss for rss, _ in samples),
        "sweep_peak_pss_mib": max(pss for _, pss in samples),
        "sweep_rss_mib": after["rss_mib"],
        "sweep_pss_mib": after["pss_mib"],
        "sweep_processes": after["processes"],
        "sweep_ingest_s": seconds,
        "sweep_points_per_s": runs * steps * wide_sweep.METRICS / seconds,
    }


def _group_memory(pgid: int) -> tuple[float, float]:
    """RSS and PSS (MiB) summed over the processes of a process group, from ``/proc`` (this
    runs in MLflow's interpreter, which has no psutil; the figures are the same)."""
    rss = pss = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            if int(stat[stat.rindex(")") + 2 :].split()[2]) != pgid:
                continue
            rollup = Path(entry.path, "smaps_rollup").read_text()
        except (OSError, ValueError):
            continue  # gone meanwhile
        for line in rollup.splitlines():
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                kib = int(rest.split()[0])
                if name == "Rss":
                    rss += kib
                else:
                    pss += kib
    return rss / 1024, pss / 1024


_W = _servers.WORKERS
SWEEP_RUNS = 12
SWEEP_QUICK_RUNS = 4
SWEEP_CLIENTS = 4
_PARAMS = {
    "runs": server_search.RUNS,
    "workers": _W,
    "sweep_runs": SWEEP_RUNS,
    "steps": wide_sweep.STEPS,
    "clients": SWEEP_CLIENTS,
}
_QUICK = {"runs": server_search.QUICK_RUNS, "sweep_runs": SWEEP_QUICK_RUNS}


def _case(tool: Tool) -> Case:
    return Case(
        tool,
        "server_footprint",
        {"server": tool, **_PARAMS},
        quick=_QUICK,
        interpreter="mlflow" if tool == "runbase" else None,
    )


SCENARIO = Scenario(
    name="server_footprint",
    title=f"Server start-up and memory, `--workers {_W}`",
    section="Server over HTTP",
    module=__name__,
    about=(
        f"Each server is started with `--workers {_W}` on the store of the search scenario "
        f"({server_search.RUNS:,} runs; {server_search.QUICK_RUNS:,} with `--quick`), built "
        "beforehand, so the start-up is timed on a migrated store: seconds from the command "
        "until `/health` answers `OK`. Then the search of that scenario runs "
        f"{THREADS * SEARCHES_PER_THREAD} times from {THREADS} threads of MLflow's client at once "
        "(several connections, so every worker gets some), and once the server is quiet "
        "again (the same processes, under 2% of a core of CPU for half a second) its memory "
        "is summed "
        "over every process with psutil: RSS as `ps` shows it (pages shared between processes "
        "counted once per process) and PSS (shared pages split between their sharers, so the "
        "sum is what the tree holds). Listed below: memory before the load, the number of "
        "processes, and `quiet_s`, the seconds from `/health` until the server was quiet "
        "(MLflow's other workers, job runner and job consumers were still starting). One run "
        "per tool, as for the search. The last three rows: the same server then ingests "
        f"{SWEEP_RUNS} runs ({SWEEP_QUICK_RUNS} with `--quick`) of the wide sweep "
        f"({wide_sweep.PARAMS} params, {wide_sweep.METRICS} metrics × {wide_sweep.STEPS} "
        f"steps each) from {SWEEP_CLIENTS} processes of MLflow's client at once (MLflow's "
        "interpreter for both servers), as a training script's fluent calls reach a server: "
        "`create_run`, the params in one `log_batch`, one `log_batch` of 50 metrics per step, "
        "`set_terminated`. Meanwhile the memory of the server's processes is summed every "
        f"{SAMPLE_EVERY} s from `/proc` (`smaps_rollup`): the peak RSS is a row, the peak PSS "
        "is listed below; after the ingest, once the server is quiet, RSS and PSS as above. "
        "The runs and the points of one are counted afterwards; `sweep_points_per_s` is the "
        "ingest rate."
    ),
    figures=(
        Figure("start-up until `/health` answers", "s", "lower", _case("runbase"), _case("mlflow")),
        Figure(
            "memory after the search load, RSS summed over the processes",
            "MiB",
            "lower",
            _case("runbase"),
            _case("mlflow"),
            field="rss_mib",
        ),
        Figure(
            "memory after the search load, PSS summed over the processes",
            "MiB",
            "lower",
            _case("runbase"),
            _case("mlflow"),
            field="pss_mib",
        ),
        Figure(
            "memory while ingesting a wide sweep, peak RSS summed over the processes",
            "MiB",
            "lower",
            _case("runbase"),
            _case("mlflow"),
            field="sweep_peak_rss_mib",
        ),
        Figure(
            "memory after ingesting a wide sweep, RSS summed over the processes",
            "MiB",
            "lower",
            _case("runbase"),
            _case("mlflow"),
            field="sweep_rss_mib",
        ),
        Figure(
            "memory after ingesting a wide sweep, PSS summed over the processes",
            "MiB",
            "lower",
            _case("runbase"),
            _case("mlflow"),
            field="sweep_pss_mib",
        ),
    ),
    repeats=1,
    timeout=1_200.0,
)
