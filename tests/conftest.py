"""Shared fixtures: every store backend through one parametrized ``db_uri``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pgserver import fresh_database, postgres_server


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
