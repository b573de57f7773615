"""``runbase server --artifacts-destination s3://...``: a real server process over a real
S3-compatible server (``s3server``), with the runbase client and the real MLflow client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from runbase.artifacts import S3ArtifactRepository
from runbase.client import Client
from runbase.errors import InvalidInputError
from runbase.server._ui_artifacts import run_root
from s3server import S3_ENV, all_keys
from server.live import ARTIFACTS_PREFIX, MlflowClientProcess, run_server

UI = "/api/v1/ui"

#: Logs one file with the MLflow client through the server at ``url`` and reads it back.
_MLFLOW_ROUND_TRIP = """
import os
mlflow.set_tracking_uri(url)
client = MlflowClient()
run = client.create_run(client.create_experiment(name))
local = os.path.join(work, name + ".txt")
with open(local, "w") as f:
    f.write("logged by mlflow")
client.log_artifact(run.info.run_id, local, "from-mlflow")
back = client.download_artifacts(run.info.run_id, f"from-mlflow/{name}.txt", work)
result = {
    "run_id": run.info.run_id,
    "artifact_uri": run.info.artifact_uri,
    "listed": [f.path for f in client.list_artifacts(run.info.run_id, "from-mlflow")],
    "content": open(back).read(),
}
"""


@pytest.fixture(scope="module")
def mlflow_s3(
    s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowClientProcess]:
    """The real MLflow client in a helper process whose environment points at the S3 server
    (each snippet sets its tracking URI)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in {**S3_ENV, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint}.items():
            env.setenv(name, value)
        process = MlflowClientProcess("http://127.0.0.1:1", tmp_path_factory.mktemp("mlflow-s3"))
    yield process
    process.close()


def _sample(tmp_path: Path) -> tuple[Path, Path]:
    """A 3 MB checkpoint file and a small folder (config.json, nested/notes.txt)."""
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(bytes(range(256)) * 12_000)
    folder = tmp_path / "report"
    (folder / "nested").mkdir(parents=True)
    (folder / "config.json").write_text('{"lr": 0.1}')
    (folder / "nested" / "notes.txt").write_text("notes")
    return ckpt, folder


def test_proxied_artifacts_land_in_s3(
    s3_bucket: str,
    s3_client: Any,
    tmp_path: Path,
    mlflow_s3: MlflowClientProcess,
) -> None:
    destination = f"s3://{s3_bucket}/root"
    ckpt, folder = _sample(tmp_path)
    db = f"sqlite:///{tmp_path / 'runbase.db'}"
    with run_server(db, tmp_path, "--artifacts-destination", destination) as server:
        client = Client(server.url, spool_dir=tmp_path / "spool")
        try:
            run = client.create_run(client.create_experiment("s3-proxied"))
            run_id, experiment_id = run.info.run_id, run.info.experiment_id
            assert run.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
            client.log_artifact(run_id, ckpt, "checkpoints")
            client.log_artifacts(run_id, folder, "report")
            assert [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id)] == [
                ("checkpoints", True, None),
                ("report", True, None),
            ]
            listed = client.list_artifacts(run_id, "checkpoints")
            assert [(f.path, f.file_size) for f in listed] == [("checkpoints/model.ckpt", 3072000)]
            out = Path(client.download_artifacts(run_id, "", tmp_path / "dl"))
            assert (out / "checkpoints" / "model.ckpt").read_bytes() == ckpt.read_bytes()
            assert (out / "report" / "nested" / "notes.txt").read_text() == "notes"
        finally:
            client.close()

        base = f"root/{experiment_id}/{run_id}/artifacts"
        assert all_keys(s3_client, s3_bucket) == {
            f"{base}/checkpoints/model.ckpt": ckpt.read_bytes(),
            f"{base}/report/config.json": b'{"lr": 0.1}',
            f"{base}/report/nested/notes.txt": b"notes",
        }

        with httpx.Client(base_url=server.url, timeout=30) as http:
            ui = http.get(f"{UI}/runs/{run_id}/artifacts", params={"path": "report"})
            assert ui.status_code == 200, ui.text
            assert [f["path"] for f in ui.json()["files"]] == [
                "report/nested",
                "report/config.json",
            ]
            missing = http.get(f"{ARTIFACTS_PREFIX}/{experiment_id}/{run_id}/artifacts/nope.txt")
            assert missing.status_code == 404
            assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
            bad = http.get(f"{ARTIFACTS_PREFIX}/{experiment_id}/%2e%2e/%2e%2e/x")
            assert bad.status_code == 400
            gone = http.delete(f"{ARTIFACTS_PREFIX}/{experiment_id}/{run_id}/artifacts/report")
            assert gone.status_code == 200, gone.text
        assert sorted(all_keys(s3_client, s3_bucket)) == [f"{base}/checkpoints/model.ckpt"]

        got = mlflow_s3.run(_MLFLOW_ROUND_TRIP, url=server.url, name="m1", work=str(tmp_path))
        assert got["artifact_uri"].startswith("mlflow-artifacts:/")
        assert got["listed"] == ["from-mlflow/m1.txt"]
        assert got["content"] == "logged by mlflow"
        mlflow_key = f"root/{got['artifact_uri'].split(':/', 1)[1]}/from-mlflow/m1.txt"
        assert all_keys(s3_client, s3_bucket)[mlflow_key] == b"logged by mlflow"


def test_without_serving_clients_write_to_s3_directly(
    s3_bucket: str,
    s3_client: Any,
    tmp_path: Path,
    mlflow_s3: MlflowClientProcess,
) -> None:
    destination = f"s3://{s3_bucket}/root"
    ckpt, folder = _sample(tmp_path)
    db = f"sqlite:///{tmp_path / 'runbase.db'}"
    args = ("--artifacts-destination", destination, "--no-serve-artifacts")
    with run_server(db, tmp_path, *args) as server:
        client = Client(server.url, spool_dir=tmp_path / "spool")
        try:
            run = client.create_run(client.create_experiment("s3-direct"))
            run_id, experiment_id = run.info.run_id, run.info.experiment_id
            artifact_uri = f"{destination}/{experiment_id}/{run_id}/artifacts"
            assert run.info.artifact_uri == artifact_uri
            client.log_artifact(run_id, ckpt)
            client.log_artifacts(run_id, folder, "report")
            assert [f.path for f in client.list_artifacts(run_id, "report")] == [
                "report/config.json",
                "report/nested",
            ]
            out = Path(client.download_artifacts(run_id, "model.ckpt", tmp_path / "dl"))
            assert out.read_bytes() == ckpt.read_bytes()
        finally:
            client.close()
        base = f"root/{experiment_id}/{run_id}/artifacts"
        assert sorted(all_keys(s3_client, s3_bucket)) == [
            f"{base}/model.ckpt",
            f"{base}/report/config.json",
            f"{base}/report/nested/notes.txt",
        ]

        with httpx.Client(base_url=server.url, timeout=30) as http:
            proxy = http.get(f"{ARTIFACTS_PREFIX}/{experiment_id}/{run_id}/artifacts/model.ckpt")
            assert proxy.status_code == 503  # clients go to the bucket themselves
            ui = http.get(f"{UI}/runs/{run_id}/artifacts")  # the UI still reads the bucket
            assert ui.status_code == 200, ui.text
            assert [f["path"] for f in ui.json()["files"]] == ["report", "model.ckpt"]
            file = http.get(f"{UI}/runs/{run_id}/artifact", params={"path": "report/config.json"})
            assert file.status_code == 200 and file.json() == {"lr": 0.1}

        got = mlflow_s3.run(_MLFLOW_ROUND_TRIP, url=server.url, name="m2", work=str(tmp_path))
        assert got["artifact_uri"].startswith(f"{destination}/")
        assert got["listed"] == ["from-mlflow/m2.txt"]
        assert got["content"] == "logged by mlflow"
        mlflow_key = got["artifact_uri"].removeprefix(f"s3://{s3_bucket}/") + "/from-mlflow/m2.txt"
        assert all_keys(s3_client, s3_bucket)[mlflow_key] == b"logged by mlflow"


def test_the_ui_reads_s3_runs_only_inside_the_destination(s3_bucket: str) -> None:
    ctx: Any = SimpleNamespace(artifacts=S3ArtifactRepository(f"s3://{s3_bucket}/root"))
    assert run_root(ctx, f"s3://{s3_bucket}/root/1/r/artifacts") == "1/r/artifacts"
    assert run_root(ctx, "mlflow-artifacts:/1/r/artifacts") == "1/r/artifacts"
    for outside in (
        f"s3://{s3_bucket}/rootless/1/r/artifacts",
        f"s3://{s3_bucket}/other/1/r/artifacts",
        "s3://another-bucket/root/1/r/artifacts",
        f"s3://{s3_bucket}/root/../secrets",
        "file:///root/1/r/artifacts",
    ):
        with pytest.raises(InvalidInputError, match="does not serve the artifacts"):
            run_root(ctx, outside)
    whole: Any = SimpleNamespace(artifacts=S3ArtifactRepository(f"s3://{s3_bucket}"))
    assert run_root(whole, f"s3://{s3_bucket}/any/1/r") == "any/1/r"
