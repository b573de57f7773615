from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from liveserver import Swappable, open_server_store, serve_in_thread, store_app
from runbase.store import Store, open_store
from runbase.store.http import HttpStore


@pytest.fixture(scope="session")
def live_server() -> Iterator[tuple[Swappable, str]]:
    """One server for the session; each test plugs in an app over its own database."""
    swappable = Swappable()
    with serve_in_thread(swappable) as url:
        yield swappable, url


@pytest.fixture(params=["direct", "http"])
def store(request: pytest.FixtureRequest, db_uri: str, tmp_path: Path) -> Iterator[Store]:
    """Every backend, through the same contract: each database directly, and through a real
    runbase server on loopback (the HTTP store)."""
    if request.param == "direct":
        opened = open_store(db_uri, artifact_root=(tmp_path / "artifacts").as_uri())
        yield opened
        opened.close()
        return
    swappable, url = request.getfixturevalue("live_server")
    opened = open_server_store(db_uri)
    swappable.app = store_app(opened, tmp_path / "artifacts")
    remote = HttpStore(url)
    yield remote
    remote.close()
    swappable.app = None
    opened.close()
