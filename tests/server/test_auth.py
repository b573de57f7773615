"""``runbase server --auth-tokens-file``: with tokens, every route but /health denies a request
without a valid one; runbase's client, the mlflow client and a browser get in with one."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Mount, Route

import runbase
from liveserver import open_server_store, serve_in_thread
from runbase.artifacts import LocalArtifactRepository
from runbase.errors import InvalidInputError, RunbaseError
from runbase.server._auth import read_tokens
from runbase.server._context import ServerContext
from runbase.server.app import build_app
from server.live import run_server

TOKEN = "rb-test-token-0123456789abcdef"
OTHER = "rb-second-token-0123456789"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _route_table(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (method, concrete path) the application serves."""
    for route in routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                yield method, prefix + _concrete(route.path)
        elif isinstance(route, Mount):
            inner = getattr(route, "routes", None)
            if inner:
                yield from _route_table(list(inner), prefix + _concrete(route.path))
            else:  # an app mounted whole (the UI's files)
                yield "GET", prefix + _concrete(route.path) + "/x"
        else:  # pragma: no cover - a new kind of route must be thought about here
            raise AssertionError(f"unexpected route {route!r}")


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    store = open_server_store(f"sqlite:///{tmp_path / 'runbase.db'}")
    app = build_app(
        ServerContext(store, LocalArtifactRepository(tmp_path / "artifacts")),
        auth_tokens=[TOKEN, OTHER],
    )
    table = sorted(set(_route_table(app.routes)))
    with serve_in_thread(app) as url:
        yield url, table
    store.close()


def test_every_route_denies_without_a_valid_token(
    guarded: tuple[str, list[tuple[str, str]]],
) -> None:
    url, table = guarded
    assert len(table) > 100  # MLflow's API twice, the artifact proxy, native, UI, sweeps
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    basic_wrong = {"Authorization": "Basic " + base64.b64encode(b"me:nope").decode()}
    with httpx.Client(base_url=url, timeout=30) as http:
        for method, path in table:
            for headers in ({}, wrong, basic_wrong, {"Authorization": "Bearer"}):
                answer = http.request(method, path, headers=headers)
                expected = 200 if path == "/health" else 401
                if path == "/health":
                    assert answer.status_code == expected, (method, path, headers)
                    continue
                assert answer.status_code == 401, (method, path, headers, answer.status_code)
                if method != "HEAD":
                    assert answer.json()["error_code"] == "UNAUTHENTICATED"
                assert answer.headers["www-authenticate"].startswith("Basic")
                assert TOKEN not in answer.text


def test_a_valid_token_opens_every_route(guarded: tuple[str, list[tuple[str, str]]]) -> None:
    url, table = guarded
    basic = base64.b64encode(f"anyone:{OTHER}".encode()).decode()
    with httpx.Client(base_url=url, timeout=30) as http:
        for method, path in table:
            for headers in (
                {"Authorization": f"Bearer {TOKEN}"},
                {"Authorization": f"Basic {basic}"},
            ):
                answer = http.request(method, path, headers=headers)
                assert answer.status_code != 401, (method, path)
                assert answer.status_code < 500, (method, path, answer.text)


def test_tokens_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "tokens"
    good.write_text(f"# the team's tokens\n{TOKEN}\n\n{OTHER}\n")
    assert read_tokens(good) == [TOKEN, OTHER]
    weak = tmp_path / "weak"
    weak.write_text("short\n")
    with pytest.raises(InvalidInputError, match="too weak"):
        read_tokens(weak)
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(InvalidInputError, match="holds no token"):
        read_tokens(tmp_path / "empty")
    with pytest.raises(InvalidInputError, match="Cannot read"):
        read_tokens(tmp_path / "missing")


MLFLOW_SCRIPT = """
import mlflow
mlflow.set_experiment("guarded")
with mlflow.start_run() as run:
    mlflow.log_metric("loss", 0.5, step=1)
    mlflow.log_text("hi", "note.txt")
print(run.info.run_id)
"""


def _mlflow(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "RUNBASE_"))}
    clean |= {"MLFLOW_TRACKING_URI": url, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", **env}
    return subprocess.run(
        [sys.executable, "-c", MLFLOW_SCRIPT],
        env={**clean, "PYTHONWARNINGS": "ignore", "MLFLOW_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_clients_log_to_a_guarded_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKEN}\n")
    with run_server(
        f"sqlite:///{tmp_path / 'server.db'}", tmp_path, "--auth-tokens-file", str(tokens)
    ) as server:
        monkeypatch.delenv("RUNBASE_TRACKING_TOKEN", raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
        anonymous = runbase.Client(server.url, spool_dir=tmp_path / "spool")
        with pytest.raises(RunbaseError, match="needs a token"):
            anonymous.create_experiment("nope")
        anonymous.close()

        monkeypatch.setenv("RUNBASE_TRACKING_TOKEN", TOKEN)
        client = runbase.Client(server.url, spool_dir=tmp_path / "spool")
        experiment = client.create_experiment("native")
        run_id = client.create_run(experiment).info.run_id
        client.log_metric(run_id, "loss", 0.25, step=3)
        client.log_text(run_id, "kept", "notes/a.txt")
        client.set_terminated(run_id)
        assert client.get_run(run_id).data.summaries["loss"].last == 0.25
        folder = Path(client.download_artifacts(run_id, "notes", tmp_path / "dl"))
        assert (folder / "a.txt").read_text() == "kept"
        client.close()

        denied = _mlflow(server.url)
        assert denied.returncode != 0 and "needs a token" in denied.stderr
        by_token = _mlflow(server.url, MLFLOW_TRACKING_TOKEN=TOKEN)
        assert by_token.returncode == 0, by_token.stderr[-2000:]
        by_basic = _mlflow(
            server.url, MLFLOW_TRACKING_USERNAME="alice", MLFLOW_TRACKING_PASSWORD=TOKEN
        )
        assert by_basic.returncode == 0, by_basic.stderr[-2000:]
        reader = runbase.Client(server.url, spool_dir=tmp_path / "spool")
        for done in (by_token, by_basic):
            mlflow_run = done.stdout.strip().splitlines()[-1]
            assert reader.get_run(mlflow_run).data.summaries["loss"].last == 0.5
            assert reader.list_artifacts(mlflow_run)[0].path == "note.txt"
        reader.close()
