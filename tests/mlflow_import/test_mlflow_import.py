"""``runbase import mlflow``: runs logged by the real ``mlflow`` client into an mlruns folder, an
MLflow SQLite database and a live ``mlflow server`` come across whole."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

import runbase
from runbase.cli import main
from runbase.entities import ViewType
from runbase.errors import InvalidInputError
from runbase.mlflow_import import import_mlflow

BIN = Path(sys.executable).parent

#: Logs with the mlflow client to argv[1] and prints what it logged, as JSON.
LOG_WITH_MLFLOW = r"""
import json, math, sys
import mlflow
import pandas as pd

mlflow.set_tracking_uri(sys.argv[1])
client = mlflow.MlflowClient()
mlflow.set_experiment("segmentation")
mlflow.set_experiment_tag("team", "vision")
with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_params({"lr": 0.01, "model/depth": 4})
    mlflow.set_tag("stage", "sweep")
    for step in range(50):
        mlflow.log_metric("loss", 1 / (step + 1), step=step)
    mlflow.log_metric("odd", math.nan, step=0)
    mlflow.log_metric("odd", math.inf, step=1)
    mlflow.log_text("hello", "notes/readme.txt")
    mlflow.log_dict({"classes": ["road", "sky"]}, "config.json")
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    dataset = mlflow.data.from_pandas(frame, name="train-df")
    mlflow.log_input(dataset, context="training")
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("loss", 0.25, step=3)
with mlflow.start_run(run_name="failed") as failed:
    mlflow.log_param("x", 1)
client.set_terminated(failed.info.run_id, "FAILED")
with mlflow.start_run(run_name="gone") as gone:
    mlflow.log_metric("loss", 9.0)
mlflow.delete_run(gone.info.run_id)
runs = {r.info.run_name: r for r in client.search_runs(
    [mlflow.get_experiment_by_name("segmentation").experiment_id], run_view_type=3)}
print(json.dumps({
    name: {"id": r.info.run_id, "start": r.info.start_time, "end": r.info.end_time,
           "history": [[m.step, m.timestamp, m.value] for m in client.get_metric_history(
               r.info.run_id, "loss")],
           "digest": [d.dataset.digest for d in r.inputs.dataset_inputs]}
    for name, r in runs.items()
}))
"""


def _mlflow_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNBASE_", "MLFLOW_"))}
    env |= {"MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _log_with_mlflow(tracking_uri: str, cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", LOG_WITH_MLFLOW, tracking_uri],
        cwd=cwd,
        env=_mlflow_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A real ``mlflow server`` (SQLite, proxied artifacts) on a loopback port."""
    port = _free_port()
    folder = tmp_path / "mlflow-server"
    folder.mkdir()
    command = [
        str(BIN / "mlflow"),
        *("server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
        *("--artifacts-destination", str(folder / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    log = folder / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=folder, env=_mlflow_env(), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, 15)
        process.wait(30)


@pytest.fixture(scope="module")
def _sqlite_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    work = tmp_path_factory.mktemp("mlflow-sqlite")
    return work, _log_with_mlflow(f"sqlite:///{work / 'mlflow.db'}", work)


@pytest.fixture
def mlflow_db(
    _sqlite_once: tuple[Path, dict[str, Any]], tmp_path: Path
) -> tuple[Path, dict[str, Any]]:
    """An MLflow SQLite database (artifacts in ./mlruns beside it) filled by the mlflow client,
    copied for this test, and what was logged into it."""
    work = tmp_path / "mlflow-sqlite"
    shutil.copytree(_sqlite_once[0], work)
    return work / "mlflow.db", _sqlite_once[1]


@pytest.fixture(params=["mlruns", "sqlite", "server"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """An MLflow source filled by the mlflow client, and what it logged."""
    work = tmp_path / "mlflow-work"
    work.mkdir()
    if request.param == "mlruns":
        logged = _log_with_mlflow(f"file://{work / 'mlruns'}", work)
        return str(work / "mlruns"), logged
    if request.param == "sqlite":
        database, logged = request.getfixturevalue("mlflow_db")
        return str(database), logged
    url = request.getfixturevalue("mlflow_server")
    return url, _log_with_mlflow(url, work)


def _runs(client: runbase.Client, view: str = ViewType.ACTIVE_ONLY) -> dict[str, Any]:
    experiment = client.get_experiment_by_name("segmentation")
    assert experiment is not None
    return {r.info.run_name: r for r in client.search_runs([experiment.experiment_id], "", view)}


def test_import_brings_runs_across_whole(
    source: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    where, logged = source
    target = str(tmp_path / "runbase.db")
    summary = import_mlflow(where, tracking_uri=target)
    assert (summary.runs, summary.skipped, summary.without_artifacts) == (3, 0, [])
    assert summary.artifact_files == 2

    client = runbase.Client(target)
    try:
        experiment = client.get_experiment_by_name("segmentation")
        assert experiment is not None and experiment.tags["team"] == "vision"
        runs = _runs(client)
        assert set(runs) == {"parent", "child", "failed"}  # the deleted run stays behind
        parent, child, failed = runs["parent"], runs["child"], runs["failed"]
        for name, run in runs.items():
            assert run.data.tags["runbase.import.source_run_id"] == logged[name]["id"]
            assert run.info.start_time == logged[name]["start"]
            assert run.info.end_time == logged[name]["end"]
        assert (parent.info.status, failed.info.status) == ("FINISHED", "FAILED")
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert parent.data.params == {"lr": "0.01", "model/depth": "4"}
        assert parent.data.tags["stage"] == "sweep"

        history = client.get_metric_history(parent.info.run_id, "loss")
        assert [[m.step, m.timestamp, m.value] for m in history] == logged["parent"]["history"]
        odd = [m.value for m in client.get_metric_history(parent.info.run_id, "odd")]
        assert math.isnan(odd[0]) and odd[1] == math.inf
        assert child.data.summaries["loss"].last == 0.25

        inputs = parent.inputs.dataset_inputs
        assert [(i.dataset.name, i.dataset.digest, i.context) for i in inputs] == [
            ("train-df", logged["parent"]["digest"][0], "training")
        ]
        folder = Path(client.download_artifacts(parent.info.run_id, "", tmp_path / "dl"))
        assert (folder / "notes" / "readme.txt").read_text() == "hello"
        assert json.loads((folder / "config.json").read_text()) == {"classes": ["road", "sky"]}
    finally:
        client.close()

    again = import_mlflow(where, tracking_uri=target)
    assert (again.runs, again.skipped) == (0, 3)
    client = runbase.Client(target)
    try:
        assert len(_runs(client)) == 3
    finally:
        client.close()


def test_deleted_runs_come_along_deleted_when_asked(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    logged = _log_with_mlflow(f"sqlite:///{work / 'mlflow.db'}", work)
    target = str(tmp_path / "runbase.db")
    result = CliRunner().invoke(
        main,
        [
            "import",
            "mlflow",
            str(work / "mlflow.db"),
            "--tracking-uri",
            target,
            "--include-deleted",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 runs" in result.output
    client = runbase.Client(target)
    try:
        deleted = _runs(client, ViewType.DELETED_ONLY)
        assert list(deleted) == ["gone"]
        assert deleted["gone"].data.tags["runbase.import.source_run_id"] == logged["gone"]["id"]
        assert deleted["gone"].data.summaries["loss"].last == 9.0
    finally:
        client.close()


def test_an_interrupted_import_is_redone(
    mlflow_db: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    database, _logged = mlflow_db
    target = str(tmp_path / "runbase.db")
    import_mlflow(database, tracking_uri=target)
    client = runbase.Client(target)
    half = _runs(client)["child"].info.run_id
    client.delete_tag(half, "runbase.import.complete")  # as if the import had stopped there
    client.close()

    again = import_mlflow(database, tracking_uri=target)
    assert (again.runs, again.skipped, again.replaced) == (1, 2, 1)
    client = runbase.Client(target)
    try:
        runs = _runs(client)
        assert runs["child"].info.run_id != half
        assert runs["child"].data.tags["mlflow.parentRunId"] == runs["parent"].info.run_id
        assert runs["child"].data.tags["runbase.import.complete"] == "true"
    finally:
        client.close()


def test_bad_sources_are_clear_errors(
    mlflow_db: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError, match="no such file or folder"):
        import_mlflow(tmp_path / "missing", tracking_uri=str(tmp_path / "rb.db"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no MLflow experiments"):
        import_mlflow(tmp_path / "empty", tracking_uri=str(tmp_path / "rb.db"))
    not_mlflow = tmp_path / "runs.db"
    runbase.Client(str(not_mlflow)).close()  # a runbase store, not an MLflow one
    with pytest.raises(InvalidInputError, match="not an MLflow tracking database"):
        import_mlflow(not_mlflow, tracking_uri=str(tmp_path / "rb.db"))
    with pytest.raises(InvalidInputError, match="Unsupported MLflow source"):
        import_mlflow("s3://bucket/mlruns", tracking_uri=str(tmp_path / "rb.db"))

    result = CliRunner().invoke(
        main,
        ["import", "mlflow", str(mlflow_db[0]), "--tracking-uri", str(tmp_path / "x.db"),
         "-e", "nope"],
    )  # fmt: skip
    assert result.exit_code == 1 and "No experiment ['nope']" in result.output
