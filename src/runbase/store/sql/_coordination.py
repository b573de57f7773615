"""Journals and leases on SQL: what sweep agents coordinate through (see ``store.base``).

An append locks its journal's row in ``journals`` (``SELECT ... FOR UPDATE``; SQLite's writes are
serialised anyway) and holds the lock until it commits, so entries are numbered in commit order
with no gap: a reader can never see entry ``n + 1`` before entry ``n``. Lease times come from
the database's clock on PostgreSQL, so agents on several machines share one clock.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from runbase.store.base import Lease, now_ms
from runbase.store.sql._metrics import dialect_insert
from runbase.store.sql._schema import journal_entries, journals, leases

__all__ = ["acquire_lease", "append", "clock_ms", "list_leases", "read", "release_lease"]

_PG_NOW = sa.text("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")


def clock_ms(conn: sa.Connection) -> int:
    """Milliseconds since the epoch on the database's clock (this machine's for SQLite)."""
    if conn.dialect.name == "postgresql":
        return int(conn.execute(_PG_NOW).scalar_one())
    return now_ms()


# Built once: SQLAlchemy then reuses their compiled form, which matters at a few hundred
# microseconds per call (a sweep trial appends about six times).
_JOURNAL_ROW = sa.select(journals.c.id, journals.c.length).where(
    journals.c.name == sa.bindparam("name")
)
_JOURNAL_ROW_LOCKED = _JOURNAL_ROW.with_for_update()
_APPENDED = sa.select(journal_entries.c.seq).where(
    journal_entries.c.journal_id == sa.bindparam("journal_id"),
    journal_entries.c.append_id == sa.bindparam("append_id"),
)
_INSERT_ENTRIES = sa.insert(journal_entries)
_RESERVE = (
    sa.update(journals)
    .where(journals.c.name == sa.bindparam("journal_name"))
    .values(length=journals.c.length + sa.bindparam("count"))
    .returning(journals.c.id, journals.c.length)
)
_SET_LENGTH = (
    sa.update(journals)
    .where(journals.c.id == sa.bindparam("journal_id"))
    .values(length=sa.bindparam("new_length"))
)
_READ = (
    sa.select(journal_entries.c.data)
    .where(
        journal_entries.c.journal_id
        == sa.select(journals.c.id)
        .where(journals.c.name == sa.bindparam("name"))
        .scalar_subquery(),
        journal_entries.c.seq >= sa.bindparam("start"),
    )
    .order_by(journal_entries.c.seq)
    .limit(sa.bindparam("limit"))
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
    params = {"journal_name": name, "count": count}
    row = conn.execute(_RESERVE, params).first()
    if row is None:
        _create_journal(conn, name)
        row = conn.execute(_RESERVE, params).one()
    return int(row.id), int(row.length) - count


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
    conn.execute(
        _INSERT_ENTRIES,
        [
            {
                "journal_id": journal_id,
                "seq": first + i,
                "data": entry,
                "append_id": append_id if i == 0 else None,
            }
            for i, entry in enumerate(entries)
        ],
    )
    return first


def read(conn: sa.Connection, name: str, start: int, limit: int) -> list[str]:
    rows = conn.execute(_READ, {"name": name, "start": start, "limit": limit})
    return list(rows.scalars())


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
