"""MLflow's artifact proxy on a live server: upload, download, list, delete, and every path trick
from MLflow's CVE history refused before anything is touched."""

from __future__ import annotations

import http.client
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from server.live import ARTIFACTS_PREFIX, LiveServer, MlflowApi

Unique = Callable[[str], str]


@pytest.fixture
def folder(unique: Unique) -> str:
    """A run-like artifact folder of this test's own."""
    return f"{unique('exp')}/0123456789abcdef/artifacts"


def _put(http: httpx.Client, path: str, content: bytes | Iterator[bytes]) -> httpx.Response:
    return http.put(f"{ARTIFACTS_PREFIX}/{path}", content=content)


def _list(http: httpx.Client, path: str | None = None) -> httpx.Response:
    return http.get(ARTIFACTS_PREFIX, params={} if path is None else {"path": path})


def test_upload_download_round_trip(
    http: httpx.Client, live_server: LiveServer, folder: str
) -> None:
    response = _put(http, f"{folder}/notes/a.txt", b"hello")
    assert (response.status_code, response.content) == (200, b"")
    assert (live_server.artifacts / folder / "notes" / "a.txt").read_bytes() == b"hello"
    got = http.get(f"{ARTIFACTS_PREFIX}/{folder}/notes/a.txt")
    assert got.status_code == 200 and got.content == b"hello"
    assert got.headers["content-type"].startswith("text/plain")
    assert got.headers["content-disposition"] == "attachment; filename=a.txt"
    assert got.headers["x-content-type-options"] == "nosniff"
    _put(http, f"{folder}/notes/a.txt", b"replaced")
    assert http.get(f"{ARTIFACTS_PREFIX}/{folder}/notes/a.txt").content == b"replaced"


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("img.png", "image/png"),
        ("model.bin", "application/octet-stream"),
        ("MLmodel", "text/plain"),
        ("cfg.yaml", "text/plain"),
        ("page.html", "text/html"),
    ],
)
def test_content_types(http: httpx.Client, folder: str, name: str, mime: str) -> None:
    _put(http, f"{folder}/{name}", b"x")
    got = http.get(f"{ARTIFACTS_PREFIX}/{folder}/{name}")
    assert got.headers["content-type"].split(";")[0] == mime
    assert got.headers["content-disposition"].startswith("attachment")


def test_odd_file_names(http: httpx.Client, live_server: LiveServer, folder: str) -> None:
    # log_image's file names, a space and non-ASCII: stored under the decoded name.
    names = ["images/val~loss+step+3+timestamp+17+abc.png", "with space.txt", "résumé.txt"]
    for name in names:
        assert _put(http, f"{folder}/{name}", name.encode()).status_code == 200
        assert (live_server.artifacts / folder / name).read_bytes() == name.encode()
        assert http.get(f"{ARTIFACTS_PREFIX}/{folder}/{name}").content == name.encode()
    disposition = http.get(f"{ARTIFACTS_PREFIX}/{folder}/résumé.txt").headers["content-disposition"]
    assert disposition == "attachment; filename=resume.txt; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"


def test_streamed_upload_of_a_large_file(
    http: httpx.Client, live_server: LiveServer, folder: str
) -> None:
    block = os.urandom(1 << 20)

    def body() -> Iterator[bytes]:  # chunked transfer encoding, as a streaming client sends
        for _ in range(12):
            yield block

    assert _put(http, f"{folder}/ckpt/model.pt", body()).status_code == 200
    stored = live_server.artifacts / folder / "ckpt" / "model.pt"
    assert stored.stat().st_size == 12 << 20
    with http.stream("GET", f"{ARTIFACTS_PREFIX}/{folder}/ckpt/model.pt") as response:
        assert response.headers["content-length"] == str(12 << 20)
        data = b"".join(response.iter_bytes())
    assert data == block * 12
    assert os.listdir(stored.parent) == ["model.pt"]  # no temporary file left


def test_list(http: httpx.Client, folder: str) -> None:
    _put(http, f"{folder}/a.txt", b"12345")
    _put(http, f"{folder}/sub/b.txt", b"x")
    listed = _list(http, folder).json()
    assert listed == {
        "files": [
            {"path": "a.txt", "is_dir": False, "file_size": 5},
            {"path": "sub", "is_dir": True},
        ]
    }
    assert _list(http, f"{folder}/sub").json() == {
        "files": [{"path": "b.txt", "is_dir": False, "file_size": 1}]
    }
    # A missing folder and a file both list as nothing (the client reads that as "a file").
    assert _list(http, f"{folder}/missing").json() == {}
    assert _list(http, f"{folder}/a.txt").json() == {}
    root = _list(http).json()
    assert {"path": folder.split("/", maxsplit=1)[0], "is_dir": True} in root["files"]


def test_download_errors(http: httpx.Client, folder: str) -> None:
    missing = http.get(f"{ARTIFACTS_PREFIX}/{folder}/nope.txt")
    assert missing.status_code == 404
    assert missing.json() == {
        "error_code": "RESOURCE_DOES_NOT_EXIST",
        "message": f"No such artifact: '{folder}/nope.txt'",
    }
    _put(http, f"{folder}/sub/b.txt", b"x")
    directory = http.get(f"{ARTIFACTS_PREFIX}/{folder}/sub")
    assert directory.status_code == 400
    assert directory.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_delete(http: httpx.Client, live_server: LiveServer, folder: str) -> None:
    _put(http, f"{folder}/sub/b.txt", b"x")
    _put(http, f"{folder}/keep.txt", b"x")
    response = http.delete(f"{ARTIFACTS_PREFIX}/{folder}/sub")
    assert (response.status_code, response.json()) == (200, {})
    assert sorted(os.listdir(live_server.artifacts / folder)) == ["keep.txt"]
    assert http.delete(f"{ARTIFACTS_PREFIX}/{folder}/never-there").status_code == 200
    assert http.delete(f"{ARTIFACTS_PREFIX}/").status_code == 400


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root.parent)) for p in root.parent.rglob("*")}


# Each is sent as written (percent-escapes included) and must come back 400 "Invalid path".
TRAVERSALS = [
    "..%2F..%2Fescape.txt",
    "%2e%2e/%2e%2e/escape.txt",
    "a/%2E%2E/%2E%2E/escape.txt",
    "%252e%252e/escape.txt",
    "a/..%5C..%5Cescape.txt",
    "%2Fetc%2Fpasswd",
    "a%00b.txt",
    "C:%5Cescape.txt",
    "a%23b.txt",
    "a%3Fb.txt",
    "~/escape.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_tricks_are_refused(live_server: LiveServer, path: str) -> None:
    before = _snapshot(live_server.artifacts)
    netloc = urlsplit(live_server.url).netloc
    for method in ("PUT", "GET", "DELETE"):
        connection = http.client.HTTPConnection(netloc, timeout=10)
        connection.request(method, f"{ARTIFACTS_PREFIX}/{path}", body=b"evil")
        response = connection.getresponse()
        body = response.read()
        connection.close()
        assert response.status == 400, (method, path, body)
        assert b'"message":"Invalid path"' in body
    connection = http.client.HTTPConnection(netloc, timeout=10)
    connection.request("GET", f"{ARTIFACTS_PREFIX}?path={path}")
    response = connection.getresponse()
    assert response.status == 400, response.read()
    connection.close()
    assert _snapshot(live_server.artifacts) == before


def test_raw_dot_segments_are_refused(live_server: LiveServer) -> None:
    netloc = urlsplit(live_server.url).netloc
    for path in ("../../escape.txt", "a/../../escape.txt", "//etc/passwd"):
        connection = http.client.HTTPConnection(netloc, timeout=10)
        connection.request("PUT", f"{ARTIFACTS_PREFIX}/{path}", body=b"evil")
        response = connection.getresponse()
        assert response.status == 400, (path, response.read())
        connection.close()
    assert not (live_server.artifacts.parent / "escape.txt").exists()


def test_legacy_list_of_run_artifacts(http: httpx.Client, api: MlflowApi, unique: Unique) -> None:
    exp = api.experiment(unique("legacy"))
    run_id = api.run(exp)
    base = f"{exp}/{run_id}/artifacts"
    _put(http, f"{base}/a.txt", b"1")
    _put(http, f"{base}/dir/b.txt", b"22")
    listed = api.ok("GET", "artifacts/list", {"run_id": run_id})
    assert listed == {
        "root_uri": f"mlflow-artifacts:/{base}",
        "files": [
            {"path": "a.txt", "is_dir": False, "file_size": 1},
            {"path": "dir", "is_dir": True},
        ],
    }
    inner = api.ok("GET", "artifacts/list", {"run_id": run_id, "path": "dir"})
    assert inner["files"] == [{"path": "dir/b.txt", "is_dir": False, "file_size": 2}]
    response = api.get("artifacts/list", run_id=run_id, path="../..")
    assert api.error(response, 400, "INVALID_PARAMETER_VALUE") == "Invalid path"
