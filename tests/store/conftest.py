from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runbase.store import Store, open_store


@pytest.fixture
def store(db_uri: str, tmp_path: Path) -> Iterator[Store]:
    """Every backend, through the same contract."""
    opened = open_store(db_uri, artifact_root=(tmp_path / "artifacts").as_uri())
    yield opened
    opened.close()
