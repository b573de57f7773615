"""Journals and leases: what sweep agents coordinate through.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("length", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "journal_entries",
        sa.Column(
            "journal_id",
            sa.Integer,
            sa.ForeignKey("journals.id", ondelete="CASCADE"),
            primary_key=True,
            nullable=False,
        ),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("append_id", sa.String(64)),
        sa.UniqueConstraint("journal_id", "append_id", name="uq_journal_entries_append"),
    )
    op.create_table(
        "leases",
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("acquired_time", sa.BigInteger, nullable=False),
        sa.Column("expires_time", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("journal_entries")
    op.drop_table("journals")
