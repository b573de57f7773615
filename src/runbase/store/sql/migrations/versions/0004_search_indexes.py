"""Indexes that let a search start from its most selective filter or from its metric order.

* ``metric_summaries (key_id, last_value, run_id)`` replaces ``(key_id, last_value)``: a search
  ordered by a metric walks it in order and reads the run id from the index itself, and a range
  filter on a metric finds its runs without touching the table.
* ``params`` and ``tags`` get ``(key, value, run_id)``, unique (it is: ``(run_id, key)`` is the
  primary key) so that SQLite, which prefers unique lookups, also probes it, covering, when it
  checks an equality filter run by run. SQLite only: a PostgreSQL B-tree entry is capped near
  2.7 kB and values may be longer (6,000 characters for a param, 8,000 for a tag), so an insert
  could fail there; PostgreSQL plans those filters as hash semi-joins instead.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_metric_summaries_key_last", table_name="metric_summaries")
    op.create_index(
        "ix_metric_summaries_key_last_run", "metric_summaries", ["key_id", "last_value", "run_id"]
    )
    if op.get_bind().dialect.name == "sqlite":
        for table in ("params", "tags"):
            op.create_index(f"ix_{table}_key_value", table, ["key", "value", "run_id"], unique=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in ("params", "tags"):
            op.drop_index(f"ix_{table}_key_value", table_name=table)
    op.drop_index("ix_metric_summaries_key_last_run", table_name="metric_summaries")
    op.create_index("ix_metric_summaries_key_last", "metric_summaries", ["key_id", "last_value"])
