"""The SQL tracking store (SQLite and PostgreSQL)."""

from runbase.store.sql._store import SqlStore

__all__ = ["SqlStore"]
