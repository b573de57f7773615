"""Agents as real processes sharing one sweep: no trial twice, kill -9 of an agent mid-trial,
a coordinator killed and the sweep resumed; on SQLite (2 agents), PostgreSQL (3 agents) and
through a runbase server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sweeptools import (
    GRID,
    RUNBASE,
    completed_configs,
    env,
    grid_spec,
    start_agent,
    wait_all,
    wait_for,
)

from liveserver import serve_in_thread, store_app
from runbase import sweeps
from runbase.cli import main
from runbase.client import Client
from runbase.entities import RunStatus
from runbase.store import open_store
from runbase.sweeps._results import SweepReader

Reader = Callable[[str, str], SweepReader]


def _agents(db_uri: str) -> int:
    return 3 if db_uri.startswith("postgresql") else 2


def _create(uri: str, spec: dict[str, object]) -> str:
    client = Client(uri)
    try:
        return sweeps.create(sweeps.parse_spec(spec), client)
    finally:
        client.close()


def test_agents_share_a_sweep_and_run_no_trial_twice(
    db_uri: str, objective_dir: Path, tmp_path: Path, reader_factory: Reader
) -> None:
    sweep_id = _create(db_uri, grid_spec(objective_dir))
    n = _agents(db_uri)
    logs = [tmp_path / f"agent-{i}.log" for i in range(n)]
    procs = [start_agent(db_uri, sweep_id, log, delay=0.15, worker=i) for i, log in enumerate(logs)]
    wait_all(procs, logs)
    reader = reader_factory(db_uri, sweep_id)
    trials = reader.trials()
    assert len(trials) == len(GRID)  # no trial was created twice, nothing beyond the grid
    assert completed_configs(reader) == GRID
    assert len({t.agent for t in trials}) >= 2, [t.agent for t in trials]
    assert reader.finished()
    runs = reader.store.search_runs(
        [str(reader.record["experiment_id"])], "tags.`runbase.sweep.id` = '" + sweep_id + "'"
    )
    assert len(runs.runs) == len(GRID) + 1  # the trials and the parent
    assert reader.store.get_run(sweep_id).info.status == RunStatus.FINISHED


def test_an_agent_killed_mid_trial_has_its_trial_run_again(
    db_uri: str, objective_dir: Path, tmp_path: Path, reader_factory: Reader
) -> None:
    sweep_id = _create(db_uri, grid_spec(objective_dir))
    n = _agents(db_uri)
    logs = [tmp_path / f"agent-{i}.log" for i in range(n)]
    procs = [start_agent(db_uri, sweep_id, log, delay=0.25, worker=i) for i, log in enumerate(logs)]
    victim = procs[0]
    reader = reader_factory(db_uri, sweep_id)

    def victim_trial() -> object:
        return next(
            (
                t
                for t in reader.trials()
                if t.state == "RUNNING"
                and t.agent
                and f"-{victim.pid}-" in t.agent
                and t.last_step == 0
            ),
            None,
        )

    killed = wait_for(victim_trial, what="a trial of the first agent running")
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    wait_all(procs[1:], logs[1:])

    trials = {t.number: t for t in reader.trials()}
    dead = trials[killed.number]  # type: ignore[attr-defined]
    assert dead.state == "FAIL" and dead.stale
    retries = [t for t in trials.values() if t.retry_of == dead.number]
    assert len(retries) == 1
    assert retries[0].state == "COMPLETE" and retries[0].params == dead.params
    assert retries[0].agent != dead.agent
    assert completed_configs(reader) == GRID  # every configuration exactly once
    assert len(trials) == len(GRID) + 1
    run = reader.store.get_run(dead.run_id)  # type: ignore[arg-type]
    assert run.info.status == RunStatus.FAILED
    assert "stopped" in run.data.tags["runbase.sweep.stale"]
    assert reader.finished()


def test_a_sweep_resumes_after_its_coordinator_is_killed(
    db_uri: str, objective_dir: Path, tmp_path: Path, reader_factory: Reader
) -> None:
    spec_file = tmp_path / "sweep.yaml"
    spec_file.write_text(yaml.safe_dump(grid_spec(objective_dir)))
    n = _agents(db_uri)
    out = tmp_path / "run.out"
    command = [*RUNBASE, "sweep", "run", str(spec_file), "--tracking-uri", db_uri]
    command += ["--parallel", str(n), "--no-progress", "--log-dir", str(tmp_path / "logs")]
    with out.open("wb") as sink:
        coordinator = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=env(0.2), start_new_session=True
        )
    match = wait_for(
        lambda: re.search(r"Sweep ([0-9a-f]{32})", out.read_text()), what="the sweep's id"
    )
    sweep_id = match.group(1)
    reader = reader_factory(db_uri, sweep_id)
    wait_for(
        lambda: reader.counts()["COMPLETE"] >= 1 and reader.counts()["RUNNING"] >= 1,
        what="a trial done and one running",
    )
    os.killpg(coordinator.pid, signal.SIGKILL)  # the coordinator and its agents
    coordinator.wait()
    assert not reader.finished()

    resumed = subprocess.run(
        [
            *RUNBASE,
            "sweep",
            "resume",
            sweep_id,
            "--tracking-uri",
            db_uri,
            "--no-progress",
            "--parallel",
            str(n),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        env=env(0.0),
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Resuming sweep {sweep_id}" in resumed.stdout
    assert completed_configs(reader) == GRID
    stale = [t for t in reader.trials() if t.stale]
    assert stale and all(t.state == "FAIL" for t in stale)
    assert reader.store.get_run(sweep_id).info.status == RunStatus.FINISHED

    # The results, from the command line.
    runner = CliRunner()
    status = runner.invoke(main, ["sweep", "status", sweep_id, "--tracking-uri", db_uri])
    assert status.exit_code == 0, status.output
    assert "(finished)" in status.output and "6 complete" in status.output
    best = runner.invoke(main, ["sweep", "best", "grid", "--tracking-uri", db_uri])
    assert best.exit_code == 0, best.output
    assert "score = 110" in best.output and "a = 1" in best.output
    listed = runner.invoke(main, ["sweep", "list", "--tracking-uri", db_uri])
    assert sweep_id in listed.output and "FINISHED" in listed.output


@pytest.mark.parametrize("db_uri", ["sqlite"], indirect=True)
def test_agents_through_a_runbase_server(db_uri: str, objective_dir: Path, tmp_path: Path) -> None:
    """Agents on other machines need only the server: journal, leases and runs go over HTTP."""
    store = open_store(db_uri, artifact_root="mlflow-artifacts:/")
    try:
        with serve_in_thread(store_app(store, tmp_path / "artifacts")) as url:
            sweep_id = _create(url, grid_spec(objective_dir))
            logs = [tmp_path / f"agent-{i}.log" for i in range(2)]
            procs = [
                start_agent(url, sweep_id, log, delay=0.1, worker=i) for i, log in enumerate(logs)
            ]
            wait_all(procs, logs)
            client = Client(url)
            try:
                reader = SweepReader(client.store, sweep_id)
                assert completed_configs(reader) == GRID
                assert len(reader.trials()) == len(GRID)
            finally:
                client.close()
    finally:
        store.close()
