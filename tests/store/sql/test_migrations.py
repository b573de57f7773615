"""The Alembic revisions shipped in the package build exactly the tables ``_schema`` declares."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from runbase.store import upgrade_schema
from runbase.store.sql._engine import SCHEMA_REVISION, current_revision
from runbase.store.sql._schema import metadata


def test_migrations_match_schema(db_uri: str) -> None:
    assert upgrade_schema(db_uri) == SCHEMA_REVISION
    engine = sa.create_engine(db_uri)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        assert current_revision(engine) == SCHEMA_REVISION
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(db_uri: str) -> None:
    upgrade_schema(db_uri)
    assert upgrade_schema(db_uri) == SCHEMA_REVISION
