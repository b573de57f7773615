"""Plain SQL for the statements every run and every metric write runs.

Building a SQLAlchemy statement and compiling it the first time costs more than running it (a
run's first ``start_run`` + ``end_run`` paid milliseconds for it), so the hot statements are
written out once, with ``?`` markers, in SQL that SQLite and PostgreSQL both accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

_CONVERTED: dict[str, str] = {}


def execute(
    conn: sa.Connection, sql: str, params: Sequence[Any] | list[Sequence[Any]] = ()
) -> sa.CursorResult[Any]:
    """Run ``sql`` (``?`` markers, no literal ``?`` or ``%``); a list of tuples runs it once per
    tuple."""
    if conn.dialect.paramstyle != "qmark":
        converted = _CONVERTED.get(sql)
        if converted is None:
            converted = _CONVERTED[sql] = sql.replace("?", "%s")
        sql = converted
    return conn.exec_driver_sql(sql, params)
