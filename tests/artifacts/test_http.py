"""Artifacts through a live server's artifact proxy, and resolving ``mlflow-artifacts:`` URIs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liveserver import free_port, make_app, serve_in_thread
from runbase._transport import Transport
from runbase.artifacts import FileInfo, get_artifact_repository
from runbase.artifacts._http import HttpArtifactRepository
from runbase.errors import InvalidInputError, NotFoundError, ServerUnavailableError


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A live server; yields its URL and its artifact destination."""
    destination = tmp_path / "destination"
    with serve_in_thread(make_app(f"sqlite:///{tmp_path / 'runbase.db'}", destination)) as url:
        yield url, destination


@pytest.fixture
def repo(server: tuple[str, Path]) -> Iterator[HttpArtifactRepository]:
    url, _ = server
    opened = get_artifact_repository("mlflow-artifacts:/1/run/artifacts", tracking_uri=url)
    assert isinstance(opened, HttpArtifactRepository)
    yield opened
    opened.close()


def test_files_round_trip(repo: HttpArtifactRepository, server: tuple[str, Path]) -> None:
    _, destination = server
    repo.write_bytes("notes/a b%.txt", b"hello")
    assert (destination / "1" / "run" / "artifacts" / "notes" / "a b%.txt").read_bytes() == b"hello"
    assert repo.read_bytes("notes/a b%.txt") == b"hello"
    repo.write_bytes("notes/a b%.txt", b"replaced")
    assert repo.read_bytes("notes/a b%.txt") == b"replaced"
    with pytest.raises(NotFoundError, match="nope"):
        repo.read_bytes("nope.txt")
    with pytest.raises(NotFoundError):
        repo.open_reader("nope.txt")


def test_listing_and_downloads(repo: HttpArtifactRepository, tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "top.txt").write_text("top")
    (source / "sub" / "deep.bin").write_bytes(b"\x00" * 1000)
    repo.log_artifacts(source, "folder")
    repo.log_artifact(source / "top.txt")
    assert repo.list_artifacts() == [FileInfo("folder", True), FileInfo("top.txt", False, 3)]
    assert repo.list_artifacts("folder") == [
        FileInfo("folder/sub", True),
        FileInfo("folder/top.txt", False, 3),
    ]
    assert repo.list_artifacts("missing") == [] and repo.list_artifacts("top.txt") == []
    out = repo.download_artifacts("folder", tmp_path / "out")
    assert out == tmp_path / "out" / "folder"
    assert (out / "sub" / "deep.bin").read_bytes() == b"\x00" * 1000
    single = repo.download_artifacts("top.txt", tmp_path / "one")
    assert single.read_text() == "top"
    everything = repo.download_artifacts("", tmp_path / "all")
    assert (everything / "folder" / "top.txt").exists() and (everything / "top.txt").exists()
    with pytest.raises(NotFoundError):
        repo.download_artifacts("folder/none.txt", tmp_path / "x")
    repo.delete_artifacts("folder")
    assert repo.list_artifacts() == [FileInfo("top.txt", False, 3)]
    repo.delete_artifacts()
    assert repo.list_artifacts() == []


def test_streams(repo: HttpArtifactRepository) -> None:
    with repo.open_writer("ckpt/model.bin") as file:
        for i in range(3):
            file.write(bytes([i]) * 1_000_000)
        assert repo.list_artifacts("ckpt") == []  # nothing is sent before the block ends
    with repo.open_reader("ckpt/model.bin") as reader:
        assert reader.read(2) == b"\x00\x00"
        assert len(reader.read()) == 3_000_000 - 2
    with pytest.raises(ConnectionError):
        _write_then_fail(repo)
    assert len(repo.read_bytes("ckpt/model.bin")) == 3_000_000  # the old file stays


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/%2e%2e/b", "a\\b", "x?y", ""])
def test_unsafe_paths_are_refused_before_any_request(path: str) -> None:
    repo = HttpArtifactRepository(f"http://127.0.0.1:{free_port()}", "1/r/artifacts")
    with pytest.raises(InvalidInputError):
        repo.write_bytes(path, b"x")
    with pytest.raises(InvalidInputError):
        repo.read_bytes(path)
    repo.close()


def test_server_down() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    repo = HttpArtifactRepository(url, "1/r/artifacts", transport=Transport(url, backoff=0.01))
    with pytest.raises(ServerUnavailableError, match="Cannot reach"):
        repo.write_bytes("a.txt", b"x")
    repo.close()


def test_resolving_mlflow_artifacts_uris() -> None:
    repo = get_artifact_repository(
        "mlflow-artifacts:/2/abc/artifacts", tracking_uri="https://host:8443/prefix/"
    )
    assert isinstance(repo, HttpArtifactRepository)
    assert (repo.server_url, repr(repo)) == (
        "https://host:8443/prefix",
        "HttpArtifactRepository('https://host:8443/prefix', '2/abc/artifacts')",
    )
    other = get_artifact_repository("mlflow-artifacts://other:5000/2/x", tracking_uri="http://h")
    assert isinstance(other, HttpArtifactRepository)
    assert other.server_url == "http://other:5000"
    for bad, message in (
        ("mlflow-artifacts:/2/x", "set an http"),
        ("mlflow-artifacts:/../etc", "'..'"),
    ):
        with pytest.raises(InvalidInputError, match=message):
            get_artifact_repository(bad, tracking_uri=None if "set" in message else "http://h")


def _write_then_fail(repo: HttpArtifactRepository) -> None:
    with repo.open_writer("ckpt/model.bin") as file:
        file.write(b"half")
        raise ConnectionError("training crashed")
