"""Tracking stores and the registry that opens one from a URI."""

from __future__ import annotations

from pathlib import Path

from runbase.errors import InvalidInputError
from runbase.store.base import MetricColumns, RunPage, RunWrite, Store
from runbase.store.models import ModelStore

__all__ = [
    "MetricColumns",
    "ModelStore",
    "RunPage",
    "RunWrite",
    "Store",
    "is_remote",
    "open_model_store",
    "open_store",
    "resolve_uri",
    "upgrade_schema",
]


def is_remote(uri: str) -> bool:
    """Whether a tracking URI names a runbase server (``http://`` or ``https://``)."""
    return uri.split("://", 1)[0].lower() in ("http", "https") if "://" in uri else False


def resolve_uri(uri: str) -> str:
    """Turn what a user may type (a plain path, ``sqlite:///x.db``, ``postgresql://...``,
    ``http://host:5000``) into the URL of a database or a server. A plain path names a SQLite
    file; a folder gets ``runbase.db`` inside it."""
    if is_remote(uri):
        return uri.rstrip("/")
    if "://" in uri:
        scheme = uri.split("://", 1)[0].split("+", 1)[0].lower()
        if scheme in ("sqlite", "postgresql", "postgres"):
            return (
                "postgresql" + uri[len(uri.split("://", 1)[0]) :] if scheme == "postgres" else uri
            )
        raise InvalidInputError(
            f"Unsupported tracking URI {uri!r}: use a path, sqlite:///path, "
            "postgresql://... or http(s)://server"
        )
    path = Path(uri).expanduser()
    if path.is_dir():
        path = path / "runbase.db"
    return f"sqlite:///{path.resolve()}"


def open_store(uri: str, artifact_root: str | None = None) -> Store:
    """Open the store a tracking URI names, creating the database schema when it is new.

    ``http(s)://`` opens an :class:`~runbase.store.http.HttpStore` on a ``runbase server``; the
    server decides where artifacts go, so ``artifact_root`` must be None then."""
    if is_remote(uri):
        if artifact_root is not None:
            raise InvalidInputError(
                "artifact_root cannot be set for a runbase server: the server's "
                "--artifacts-destination decides where artifacts go"
            )
        from runbase.store.http import HttpStore

        return HttpStore(resolve_uri(uri))
    from runbase.store.sql import SqlStore

    return SqlStore(resolve_uri(uri), artifact_root=artifact_root)


def open_model_store(uri: str) -> ModelStore:
    """Open the model registry and logged models of the database a tracking URI names.

    Code that already holds a ``SqlStore`` should use its ``models`` instead, which shares the
    store's connections."""
    if is_remote(uri):
        raise InvalidInputError(
            f"{uri} is a runbase server: the model registry is served over MLflow's REST API "
            "there, not opened as a store"
        )
    from runbase.store.sql import SqlModelStore

    return SqlModelStore.open(resolve_uri(uri))


def upgrade_schema(uri: str) -> str:
    """Bring the database a tracking URI names to this version's schema; return the revision.

    Safe to run twice and from several processes at once."""
    if is_remote(uri):
        raise InvalidInputError(
            f"{uri} is a runbase server: upgrade the database it serves, on the server "
            "(`runbase db upgrade --tracking-uri <database>`)"
        )
    from runbase.store.sql._engine import (
        SCHEMA_REVISION,
        create_engines,
        dispose_engines,
        upgrade,
    )

    write_engine, read_engine = create_engines(resolve_uri(uri))
    try:
        upgrade(write_engine)
    finally:
        dispose_engines(write_engine, read_engine)
    return SCHEMA_REVISION
