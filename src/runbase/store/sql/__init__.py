"""The SQL tracking store (SQLite and PostgreSQL) and the model store beside it."""

from runbase.store.sql._models import SqlModelStore
from runbase.store.sql._store import SqlStore

__all__ = ["SqlModelStore", "SqlStore"]
