"""Journals and leases on SQL: what sweep agents coordinate through (see ``store.base``).

An append locks its journal's row in ``journals`` (``SELECT ... FOR UPDATE``; SQLite's writes are
serialised anyway) and holds the lock until it commits, so entries are numbered in commit order
with no gap: a reader can never see entry ``n + 1`` before entry ``n``. Lease times come from
the database's clock on PostgreSQL, so agents on several machines share one clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import sqlalchemy as sa

from runbase.store.base import Lease, now_ms
from runbase.store.sql import _plain
from runbase.store.sql._metrics import dialect_insert
from runbase.store.sql._schema import journal_entries, journals, leases

__all__ = ["acquire_lease", "append", "clock_ms", "list_leases", "read", "release_lease"]

_PG_NOW = sa.text("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")


def clock_ms(conn: sa.Connection) -> int:
    """Milliseconds since the epoch on the database's clock (this machine's for SQLite)."""
    if conn.dialect.name == "postgresql":
        return int(conn.execute(_PG_NOW).scalar_one())
    return now_ms()


# The statements a sweep trial runs about seven times (one append per Optuna operation) are
# plain SQL: through SQLAlchemy's compiled statements an append cost ~0.5 ms, most of it the
# library's own work around two one-row statements.
_RESERVE = "UPDATE journals SET length = length + ? WHERE name = ? RETURNING id, length"
_INSERT_ENTRY = "INSERT INTO journal_entries (journal_id, seq, data, append_id) VALUES (?, ?, ?, ?)"
_READ = (
    "SELECT data FROM journal_entries WHERE journal_id = "
    "(SELECT id FROM journals WHERE name = ?) AND seq >= ? ORDER BY seq LIMIT ?"
)
_JOURNAL_ROW_LOCKED = (
    sa.select(journals.c.id, journals.c.length)
    .where(journals.c.name == sa.bindparam("name"))
    .with_for_update()
)
_APPENDED = sa.select(journal_entries.c.seq).where(
    journal_entries.c.journal_id == sa.bindparam("journal_id"),
    journal_entries.c.append_id == sa.bindparam("append_id"),
)
_SET_LENGTH = (
    sa.update(journals)
    .where(journals.c.id == sa.bindparam("journal_id"))
    .values(length=sa.bindparam("new_length"))
)


def _lock_journal(conn: sa.Connection, name: str) -> tuple[int, int]:
    """``(id, length)`` of a journal, created if new, its row locked until commit."""
    row = conn.execute(_JOURNAL_ROW_LOCKED, {"name": name}).first()
    if row is None:
        _create_journal(conn, name)
        row = conn.execute(_JOURNAL_ROW_LOCKED, {"name": name}).one()
    return int(row.id), int(row.length)


def _create_journal(conn: sa.Connection, name: str) -> None:
    conn.execute(
        dialect_insert(conn, journals).values(name=name, length=0).on_conflict_do_nothing()
    )


def _reserve(conn: sa.Connection, name: str, count: int) -> tuple[int, int]:
    """Lock the journal's row and move its length on by ``count`` in one statement; return
    ``(id, first number)``."""
    row = _plain.execute(conn, _RESERVE, (count, name)).first()
    if row is None:
        _create_journal(conn, name)
        row = _plain.execute(conn, _RESERVE, (count, name)).one()
    journal_id, length = cast("Sequence[Any]", row)  # (id, length): the driver row, untyped
    return int(journal_id), int(length) - count


def append(
    conn: sa.Connection,
    name: str,
    entries: Sequence[str],
    expected_length: int | None,
    append_id: str | None,
) -> int | None:
    if append_id is None and expected_length is None:
        journal_id, first = _reserve(conn, name, len(entries))  # the usual case: 2 statements
    else:
        journal_id, first = _lock_journal(conn, name)
        if append_id is not None:
            done = conn.execute(
                _APPENDED, {"journal_id": journal_id, "append_id": append_id}
            ).scalar()
            if done is not None:
                return int(done)
        if expected_length is not None and expected_length != first:
            return None
        conn.execute(_SET_LENGTH, {"journal_id": journal_id, "new_length": first + len(entries)})
    rows = [
        (journal_id, first + i, entry, append_id if i == 0 else None)
        for i, entry in enumerate(entries)
    ]
    _plain.execute(conn, _INSERT_ENTRY, rows if len(rows) > 1 else rows[0])
    return first


def read(conn: sa.Connection, name: str, start: int, limit: int) -> list[str]:
    return [row[0] for row in _plain.execute(conn, _READ, (name, start, limit))]


def acquire_lease(conn: sa.Connection, scope: str, key: str, holder: str, ttl_ms: int) -> bool:
    now = clock_ms(conn)
    stmt = dialect_insert(conn, leases).values(
        scope=scope, key=key, holder=holder, acquired_time=now, expires_time=now + ttl_ms
    )
    ours = leases.c.holder == stmt.excluded.holder
    stmt = stmt.on_conflict_do_update(
        index_elements=["scope", "key"],
        set_={
            "holder": stmt.excluded.holder,
            # A renewal keeps the time it was first taken; a takeover starts anew.
            "acquired_time": sa.case((ours, leases.c.acquired_time), else_=now),
            "expires_time": stmt.excluded.expires_time,
        },
        where=sa.or_(ours, leases.c.expires_time <= now),
    ).returning(leases.c.holder)
    return conn.execute(stmt).first() is not None


def release_lease(conn: sa.Connection, scope: str, key: str, holder: str) -> bool:
    deleted = conn.execute(
        sa.delete(leases).where(
            leases.c.scope == scope, leases.c.key == key, leases.c.holder == holder
        )
    ).rowcount
    return bool(deleted)


def list_leases(conn: sa.Connection, scope: str) -> list[Lease]:
    now = clock_ms(conn)
    rows = conn.execute(sa.select(leases).where(leases.c.scope == scope).order_by(leases.c.key))
    return [
        Lease(r.scope, r.key, r.holder, r.acquired_time, r.expires_time, r.expires_time <= now)
        for r in rows
    ]
