"""Shared fixtures: every store backend through one parametrized ``db_uri``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pgserver import fresh_database, postgres_server


@pytest.fixture(scope="session", autouse=True)
def _private_spool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Clients that get no ``spool_dir`` (the fluent verbs over HTTP, agents in subprocesses)
    spool under the test session's temporary folder, never in the user's cache."""
    before = os.environ.get("RUNBASE_SPOOL_DIR")
    os.environ["RUNBASE_SPOOL_DIR"] = str(tmp_path_factory.mktemp("spool"))
    yield
    if before is None:
        del os.environ["RUNBASE_SPOOL_DIR"]
    else:
        os.environ["RUNBASE_SPOOL_DIR"] = before


@pytest.fixture(scope="session")
def postgres_server_uri() -> Iterator[str]:
    with postgres_server() as uri:
        yield uri


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URI for each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'runbase.db'}"
        return
    server = request.getfixturevalue("postgres_server_uri")
    with fresh_database(server) as uri:
        yield uri
