"""Sweeps run to the end: the grid, TPE with pruning, trial runs and the parent's record, commands.

Agents here run in this process (a callable objective) or run commands; agents as separate
processes, their death and resumption are in ``test_sweep_agents.py``."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

import runbase
from runbase import sweeps
from runbase.client import Client
from runbase.entities import RunStatus
from runbase.sweeps._results import SweepReader


def _objective(params: dict[str, Any]) -> float:
    value = params["a"] * 100 + params["b"]
    for step in range(3):
        runbase.report(value + 3 - step, step)
    runbase.log_metric("other", 1.0)
    return float(value)


def _run(spec: dict[str, Any], uri: str, parallel: int = 1) -> sweeps.SweepInfo:
    out = io.StringIO()
    info = sweeps.run(spec, tracking_uri=uri, parallel=parallel, progress=False, out=out)
    assert info.finished, out.getvalue()
    return info


def test_grid_runs_the_cartesian_product_as_child_runs(db_uri: str) -> None:
    spec = {
        "name": "grid",
        "experiment": "grid-exp",
        "method": "grid",
        "metric": {"name": "score", "goal": "minimize"},
        "function": _objective,
        "parameters": {"a": [1, 2, 3], "b": [10, 20], "mode": "fixed-value"},
    }
    info = _run(spec, db_uri, parallel=2)
    assert info.counts == {"COMPLETE": 6, "PRUNED": 0, "FAIL": 0, "RUNNING": 0, "WAITING": 0}
    client = Client(db_uri)
    try:
        reader = SweepReader(client.store, info.sweep_id)
        trials = reader.trials()
        assert sorted((t.params["a"], t.params["b"]) for t in trials) == [
            (a, b) for a in (1, 2, 3) for b in (10, 20)
        ]
        parent = client.get_run(info.sweep_id)
        assert parent.info.status == RunStatus.FINISHED
        assert parent.data.params["best.a"] == "1" and parent.data.params["best.b"] == "10"
        assert parent.data.params["sweep.method"] == "grid"
        assert parent.data.tags["runbase.sweep.best_trial"] == str(info.best.number)  # type: ignore[union-attr]
        assert parent.data.metrics["best_score"] == 110.0
        children = client.search_runs(
            [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{info.sweep_id}'"
        )
        assert len(children) == 6
        for run in children:
            number = int(run.data.tags["runbase.sweep.trial"])
            trial = next(t for t in trials if t.number == number)
            assert trial.run_id == run.info.run_id
            assert run.data.tags["runbase.sweep.id"] == info.sweep_id
            assert run.data.tags["runbase.sweep.state"] == "COMPLETE"
            assert run.info.status == RunStatus.FINISHED
            assert run.data.params["mode"] == "fixed-value"
            assert run.data.metrics["score"] == trial.value + 1  # the last report
            assert "other" in run.data.metrics
        series = reader.intermediate_values([trials[0].number])
        assert series[0].steps == [0, 1, 2] and not series[0].pruned
        assert [p.best for p in reader.history()][-1] == 110.0
    finally:
        client.close()


def _pruned_objective(params: dict[str, Any]) -> float | None:
    x = params["x"]
    for step in range(6):
        runbase.log_metric("loss", x + (6 - step) * 0.1, step=step)  # reported automatically
        if runbase.should_prune():
            return None
    return x


def test_tpe_with_median_pruning_prunes(tmp_path: Path) -> None:
    spec = {
        "method": "tpe",
        "sampler_options": {"n_startup_trials": 4},
        "metric": {"name": "loss", "goal": "minimize"},
        "pruner": {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 1},
        "max_trials": 16,
        "seed": 3,
        "function": _pruned_objective,
        "parameters": {"x": {"type": "float", "low": 0.0, "high": 10.0}},
    }
    uri = str(tmp_path / "runbase.db")
    info = _run(spec, uri)
    assert info.counts["PRUNED"] >= 3, info.counts
    assert info.counts["COMPLETE"] + info.counts["PRUNED"] == 16
    client = Client(uri)
    try:
        reader = SweepReader(client.store, info.sweep_id)
        pruned = [t for t in reader.trials() if t.state == "PRUNED"]
        run = client.get_run(pruned[0].run_id)  # type: ignore[arg-type]
        assert run.data.tags["runbase.sweep.state"] == "PRUNED"
        assert run.info.status == RunStatus.FINISHED
        series = {s.number: s for s in reader.intermediate_values()}
        assert series[pruned[0].number].pruned
        assert len(series[pruned[0].number].steps) < 6
        assert reader.importance() == {"x": 1.0}  # one parameter explains everything
        best = reader.best()
        assert best is not None and best.value == min(
            t.value for t in reader.trials() if t.state == "COMPLETE" and t.value is not None
        )
    finally:
        client.close()


def _failing(params: dict[str, Any]) -> float:
    if params["a"] == 2:
        raise RuntimeError("boom at a=2")
    return float(params["a"])


def test_a_failing_trial_fails_alone(tmp_path: Path) -> None:
    spec = {
        "method": "grid",
        "metric": "v",
        "function": _failing,
        "parameters": {"a": [1, 2, 3]},
    }
    uri = str(tmp_path / "runbase.db")
    info = _run(spec, uri)
    assert info.counts["COMPLETE"] == 2 and info.counts["FAIL"] == 1
    client = Client(uri)
    try:
        failed = next(t for t in SweepReader(client.store, info.sweep_id).trials() if t.error)
        assert "boom at a=2" in (failed.error or "")
        assert client.get_run(failed.run_id).info.status == RunStatus.FAILED  # type: ignore[arg-type]
    finally:
        client.close()


TRAIN_SCRIPT = """
import json, os, sys
import runbase

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
config = json.load(open(args["--config"]))
assert config["model"]["depth"] == int(args["--depth"]), config
assert os.environ["DEPTH_ENV"] == args["--depth"]
if args["--depth"] == "3":
    print("depth 3 is not supported", file=sys.stderr)
    sys.exit(3)
with runbase.start_run():
    runbase.log_param("from_script", "yes")
    for step in range(4):
        runbase.report(float(args["--depth"]) + step, step)
        if runbase.should_prune():
            break
"""


def test_command_trials(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN_SCRIPT)
    spec = {
        "method": "grid",
        "metric": {"name": "err", "goal": "minimize", "summary": "min"},
        "command": f"{sys.executable} {script} --depth {{model.depth}} --config {{config_file}}",
        "config_file": "trial.json",
        "env": {"DEPTH_ENV": "{model.depth}"},
        "parameters": {"model": {"depth": [1, 2, 3]}},
    }
    uri = str(tmp_path / "runbase.db")
    info = _run(spec, uri)
    assert info.counts["COMPLETE"] == 2 and info.counts["FAIL"] == 1
    client = Client(uri)
    try:
        trials = {
            t.params["model.depth"]: t for t in SweepReader(client.store, info.sweep_id).trials()
        }
        assert trials[1].value == 1.0 and trials[2].value == 2.0  # summary: min
        assert "exit status 3" in (trials[3].error or "")
        assert "depth 3 is not supported" in (trials[3].error or "")
        run = client.get_run(trials[2].run_id)  # type: ignore[arg-type]
        assert run.data.params["from_script"] == "yes"
        assert run.data.params["model.depth"] == "2"
        assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["trial.log"]
    finally:
        client.close()


def test_report_outside_a_sweep_logs_a_metric(tmp_path: Path) -> None:
    runbase.set_tracking_uri(str(tmp_path / "runbase.db"))
    try:
        with runbase.start_run() as run:
            runbase.report(0.5, step=1)
            assert not runbase.should_prune()
            assert sweeps.report.trial_params() == {}
        got = runbase.get_run(run.info.run_id)
        assert got.data.metrics == {"objective": 0.5}
    finally:
        runbase.set_tracking_uri("runbase.db")


def test_a_callable_sweep_cannot_be_joined_from_elsewhere(tmp_path: Path) -> None:
    uri = str(tmp_path / "runbase.db")
    client = Client(uri)
    try:
        spec = sweeps.parse_spec(
            {"method": "grid", "metric": "v", "function": _failing, "parameters": {"a": [1]}}
        )
        sweep_id = sweeps.create(spec, client)
        with pytest.raises(runbase.InvalidInputError, match="only that process"):
            sweeps.Agent(sweep_id, tracking_uri=uri)
    finally:
        client.close()
