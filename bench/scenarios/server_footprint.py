"""The server's own cost: time to start and memory held, with four workers, after the search
load of ``server_search``."""

from __future__ import annotations

import threading

from scenarios import _servers, server_search
from scenarios._spec import Case, Figure, Result, Scenario, Tool

#: Client threads searching at once, and searches each: several connections, so that the
#: kernel hands them to different workers and every worker has served the load.
THREADS = 8
SEARCHES_PER_THREAD = 2


def server_footprint(server: Tool, runs: int, workers: int) -> Result:
    """Start the server on the store of ``server_search`` (built first, untimed), time it until
    ``/health`` answers, then search from ``THREADS`` threads with MLflow's client and read the
    memory of the server's process tree once it is quiet again."""
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
    return {
        "value": srv.startup_s,
        "rss_mib": loaded["rss_mib"],
        "pss_mib": loaded["pss_mib"],
        "processes": loaded["processes"],
        "idle_rss_mib": idle["rss_mib"],
        "idle_pss_mib": idle["pss_mib"],
        "quiet_after_load_s": loaded["quiet_s"],
        **_servers.timings(srv),
    }


_W = _servers.WORKERS
_PARAMS = {"runs": server_search.RUNS, "workers": _W}
_QUICK = {"runs": server_search.QUICK_RUNS}


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
        "per tool, as for the search."
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
    ),
    repeats=1,
)
