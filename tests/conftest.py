"""Shared fixtures: every store backend through one parametrized ``db_uri``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pgserver import fresh_database, postgres_server
from s3server import CLEARED_ENV, S3_ENV, new_bucket, s3_server


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


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a local S3-compatible server, shared by the session's S3 tests."""
    with s3_server() as url:
        yield url


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 at the local S3 server (through ``MLFLOW_S3_ENDPOINT_URL``, as MLflow users
    do) for this test and the processes it starts; returns the endpoint."""
    for name in CLEARED_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint)
    return s3_endpoint


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str) -> Any:
    """A plain boto3 client on the local S3 server, to look at buckets behind runbase's back."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
    )
    return session.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def s3_client(s3_env: str, s3_admin: Any) -> Any:
    """``s3_admin``, in a test whose environment points at the local S3 server."""
    return s3_admin


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A new, empty bucket for this test."""
    return new_bucket(s3_client)
