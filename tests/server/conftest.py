"""A real ``runbase server`` on loopback per backend, and the real MLflow client to drive it.

The server and the MLflow helper process are started once per backend for the whole session;
each test works in experiments of its own (see ``unique``), so tests do not see each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from pgserver import fresh_database
from server.live import LiveServer, MlflowApi, MlflowClientProcess, run_server


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def server_db_uri(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh store per backend, shared by the session's server tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('server-db') / 'runbase.db'}"
        return
    server = request.getfixturevalue("postgres_server_uri")
    with fresh_database(server) as uri:
        yield uri


@pytest.fixture(scope="session")
def live_server(
    server_db_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with run_server(server_db_uri, tmp_path_factory.mktemp("server")) as server:
        yield server


@pytest.fixture
def server_factory(
    tmp_path: Path,
) -> Callable[..., AbstractContextManager[LiveServer]]:
    """Start another server (own SQLite store and artifacts) with extra CLI arguments."""

    def start(*args: str) -> AbstractContextManager[LiveServer]:
        return run_server(f"sqlite:///{tmp_path / 'runbase.db'}", tmp_path, *args)

    return start


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A name no other test uses: ``unique("exp")`` → ``exp-1f3a...``."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def api(http: httpx.Client) -> MlflowApi:
    return MlflowApi(http)


@pytest.fixture(scope="session")
def mlflow_client(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowClientProcess]:
    client = MlflowClientProcess(live_server.url, tmp_path_factory.mktemp("mlflow-client"))
    yield client
    client.close()
