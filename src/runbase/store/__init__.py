"""Tracking stores and the registry that opens one from a URI."""

from __future__ import annotations

from pathlib import Path

from runbase.errors import InvalidInputError
from runbase.store.base import MetricColumns, RunPage, Store

__all__ = ["MetricColumns", "RunPage", "Store", "open_store", "resolve_uri", "upgrade_schema"]


def resolve_uri(uri: str) -> str:
    """Turn what a user may type (a plain path, ``sqlite:///x.db``, ``postgresql://...``) into a
    database URL. A plain path names a SQLite file; a folder gets ``runbase.db`` inside it."""
    if "://" in uri:
        scheme = uri.split("://", 1)[0].split("+", 1)[0].lower()
        if scheme in ("sqlite", "postgresql", "postgres"):
            return (
                "postgresql" + uri[len(uri.split("://", 1)[0]) :] if scheme == "postgres" else uri
            )
        if scheme in ("http", "https"):
            raise InvalidInputError(
                f"Tracking URI {uri!r}: the HTTP store needs `runbase server` support, "
                "which this version of the client does not have yet"
            )
        raise InvalidInputError(
            f"Unsupported tracking URI {uri!r}: use a path, sqlite:///path or postgresql://..."
        )
    path = Path(uri).expanduser()
    if path.is_dir():
        path = path / "runbase.db"
    return f"sqlite:///{path.resolve()}"


def open_store(uri: str, artifact_root: str | None = None) -> Store:
    """Open the store a tracking URI names, creating the database schema when it is new."""
    from runbase.store.sql import SqlStore

    return SqlStore(resolve_uri(uri), artifact_root=artifact_root)


def upgrade_schema(uri: str) -> str:
    """Bring the database a tracking URI names to this version's schema; return the revision.

    Safe to run twice and from several processes at once."""
    from runbase.store.sql._engine import SCHEMA_REVISION, create_engines, upgrade

    write_engine, read_engine = create_engines(resolve_uri(uri))
    try:
        upgrade(write_engine)
    finally:
        write_engine.dispose()
        read_engine.dispose()
    return SCHEMA_REVISION
