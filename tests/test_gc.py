"""``runbase gc``: deleted runs leave nothing behind, artifacts included; on an embedded store
and through a live ``runbase server`` (artifacts behind its proxy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import runbase
from runbase._gc import parse_age
from runbase.cli import main
from runbase.errors import InvalidInputError, NotFoundError
from s3server import all_keys
from server.live import run_server


def _runs_with_artifacts(
    client: runbase.Client, tmp_path: Path, artifact_location: str | None = None
) -> tuple[str, str]:
    experiment = client.create_experiment("gc", artifact_location)
    ids = []
    for name in ("gone", "kept"):
        run_id = client.create_run(experiment, run_name=name).info.run_id
        client.log_text(run_id, f"{name}\n", "notes/readme.txt")
        client.log_metric(run_id, "loss", 0.5, step=1)
        client.set_terminated(run_id)
        ids.append(run_id)
    return ids[0], ids[1]


def _gc(uri: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["gc", "--tracking-uri", uri, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_gc_frees_deleted_runs_and_their_artifacts(tmp_path: Path) -> None:
    uri = str(tmp_path / "runs.db")
    client = runbase.Client(uri)
    gone, kept = _runs_with_artifacts(client, tmp_path)
    gone_dir = Path(client.get_run(gone).info.artifact_uri.removeprefix("file://"))
    kept_dir = Path(client.get_run(kept).info.artifact_uri.removeprefix("file://"))
    assert (gone_dir / "notes" / "readme.txt").is_file()
    client.delete_run(gone)

    assert "Would purge 1 deleted runs" in _gc(uri, "--dry-run")
    assert "Purged 0" in _gc(uri, "--older-than", "1d")  # deleted just now
    assert (gone_dir / "notes" / "readme.txt").is_file()
    client.restore_run(gone)  # nothing changed so far
    client.delete_run(gone)

    assert "Purged 1 deleted runs" in _gc(uri)
    assert not gone_dir.exists()
    with pytest.raises(NotFoundError):
        client.get_run(gone)
    assert (kept_dir / "notes" / "readme.txt").read_text() == "kept\n"
    assert client.get_metric_history(kept, "loss")[0].value == 0.5
    assert "Purged 0" in _gc(uri)
    client.close()


def test_gc_through_a_server_removes_proxied_artifacts(tmp_path: Path) -> None:
    with run_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path) as server:
        client = runbase.Client(server.url, spool_dir=tmp_path / "spool")
        gone, kept = _runs_with_artifacts(client, tmp_path)
        on_disk = sorted(p for p in server.artifacts.rglob("readme.txt"))
        assert len(on_disk) == 2
        client.delete_run(gone)
        output = _gc(server.url, "--run-id", gone)
        assert "Purged 1 deleted runs" in output
        remaining = sorted(p for p in server.artifacts.rglob("readme.txt"))
        assert [p.read_text() for p in remaining] == ["kept\n"]
        with pytest.raises(NotFoundError):
            client.get_run(gone)
        result = CliRunner().invoke(main, ["gc", "--tracking-uri", server.url, "--run-id", kept])
        assert result.exit_code == 1 and "Not deleted runs" in result.output
        client.close()


def test_gc_removes_artifacts_in_s3(tmp_path: Path, s3_bucket: str, s3_client: Any) -> None:
    client = runbase.Client(str(tmp_path / "runs.db"))
    gone, kept = _runs_with_artifacts(client, tmp_path, f"s3://{s3_bucket}/experiments/gc")
    assert len(all_keys(s3_client, s3_bucket)) == 2
    client.delete_run(gone)
    assert "Purged 1 deleted runs" in _gc(str(tmp_path / "runs.db"))
    assert all_keys(s3_client, s3_bucket) == {
        f"experiments/gc/{kept}/artifacts/notes/readme.txt": b"kept\n"
    }
    client.close()


def test_ages() -> None:
    assert parse_age("30d") == 30 * 86_400
    assert parse_age("1.5h") == 5400
    assert parse_age("45") == 45
    with pytest.raises(InvalidInputError, match="Invalid age"):
        parse_age("soon")
