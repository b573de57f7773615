"""The client against a live server (``http://`` tracking URI): the verbs, artifacts through the
server's proxy, and the module-level API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import runbase
from liveserver import make_app, serve_in_thread
from runbase.client import Client
from runbase.entities import Metric, Param, RunTag


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    destination = tmp_path / "destination"
    with serve_in_thread(make_app(f"sqlite:///{tmp_path / 'server.db'}", destination)) as url:
        yield url, destination


@pytest.fixture
def client(server: tuple[str, Path], tmp_path: Path) -> Iterator[Client]:
    opened = Client(server[0], flush_interval=0.05, spool_dir=tmp_path / "spool")
    yield opened
    opened.close()


def test_logging_and_reading_back(client: Client) -> None:
    exp_id = client.create_experiment("remote", tags={"team": "vision"})
    run_id = client.create_run(exp_id, run_name="r1").info.run_id
    client.log_params(run_id, {"model": {"depth": 4}, "lr": 0.1})
    client.set_tags(run_id, {"stage": "dev"})
    for step in range(100):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    client.log_batch(run_id, [Metric("acc", 0.5, 1, 0)], [Param("seed", "1")], [RunTag("k", "v")])
    client.log_metric_series(run_id, "lr", np.linspace(0.1, 0.0, 50))
    info = client.set_terminated(run_id)
    assert info is not None and info.status == "FINISHED"
    run = client.get_run(run_id)
    assert run.data.params == {"model.depth": "4", "lr": "0.1", "seed": "1"}
    assert run.data.summaries["loss"].count == 100 and run.data.metrics["acc"] == 0.5
    assert len(client.get_metric_history(run_id, "loss")) == 100
    assert client.get_metric_arrays(run_id, "lr").values[0] == 0.1
    page = client.search_runs([exp_id], "params.lr = '0.1' and metrics.loss < 0.02")
    assert [r.info.run_id for r in page] == [run_id]


def test_artifacts_go_through_the_server(
    client: Client, server: tuple[str, Path], tmp_path: Path
) -> None:
    _, destination = server
    run = client.create_run("0")
    run_id = run.info.run_id
    assert run.info.artifact_uri == f"mlflow-artifacts:/0/{run_id}/artifacts"
    local = tmp_path / "config.yaml"
    local.write_text("lr: 0.1\n")
    client.log_artifact(run_id, local, "configs")
    client.log_text(run_id, "hello", "notes/readme.txt")
    client.log_dict(run_id, {"a": 1}, "report.json")
    image = client.log_image(run_id, np.zeros((4, 4, 3), dtype=np.uint8), key="overlay", step=3)
    stored = destination / "0" / run_id / "artifacts"
    assert (stored / "configs" / "config.yaml").read_text() == "lr: 0.1\n"
    assert (stored / image).read_bytes().startswith(b"\x89PNG")
    names = [f.path for f in client.list_artifacts(run_id)]
    assert names == ["configs", "images", "notes", "report.json"]
    out = Path(client.download_artifacts(run_id, "notes", tmp_path / "out"))
    assert (out / "readme.txt").read_text() == "hello"
    assert client.get_run(run_id).data.tags["mlflow.loggedImages"] == "True"


def test_module_level_api(
    server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = server
    monkeypatch.setenv("RUNBASE_SPOOL_DIR", str(tmp_path / "spool"))
    runbase.set_tracking_uri(url)
    try:
        runbase.set_experiment("fluent-remote")
        with runbase.start_run(run_name="baseline") as run:
            runbase.log_params({"lr": 0.001})
            for epoch in range(3):
                runbase.log_metrics({"val_dice": epoch / 10}, step=epoch)
            runbase.log_text("done", "status.txt")
        got = runbase.get_run(run.info.run_id)
        assert got.info.status == "FINISHED" and got.data.metrics == {"val_dice": 0.2}
    finally:
        runbase.set_tracking_uri(tmp_path / "local.db")
