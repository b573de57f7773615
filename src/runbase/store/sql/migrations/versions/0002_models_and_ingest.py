"""Logged models, the model registry, run model outputs/inputs, and idempotent ingest batches.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _owner(column: str, target: str, *, primary_key: bool) -> sa.Column[int]:
    """An integer column referencing ``target`` whose rows go when the target row goes."""
    return sa.Column(
        column,
        sa.Integer,
        sa.ForeignKey(target, ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
    )


def _key_value(table: str, owner: str, target: str) -> None:
    op.create_table(
        table,
        _owner(owner, target, primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def upgrade() -> None:
    op.create_table(
        "ingest_batches",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        _owner("run_id", "runs.id", primary_key=False),
        sa.Column("created_time", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_ingest_batches_run", "ingest_batches", ["run_id"])

    op.create_table(
        "logged_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(34), nullable=False, unique=True),
        _owner("experiment_id", "experiments.experiment_id", primary_key=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("artifact_location", sa.Text, nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text),
        sa.Column("model_type", sa.String(500)),
        sa.Column("source_run_id", sa.String(32)),
    )
    op.create_index(
        "ix_logged_models_experiment_created", "logged_models", ["experiment_id", "creation_time"]
    )
    op.create_index("ix_logged_models_source_run", "logged_models", ["source_run_id"])
    _key_value("logged_model_tags", "logged_model_id", "logged_models.id")
    _key_value("logged_model_params", "logged_model_id", "logged_models.id")
    op.create_table(
        "logged_model_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _owner("logged_model_id", "logged_models.id", primary_key=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("dataset_name", sa.String(500)),
        sa.Column("dataset_digest", sa.String(36)),
    )
    op.create_index(
        "ix_logged_model_metrics_model_key", "logged_model_metrics", ["logged_model_id", "key"]
    )
    op.create_table(
        "run_outputs",
        _owner("run_id", "runs.id", primary_key=True),
        _owner("logged_model_id", "logged_models.id", primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "run_model_inputs",
        _owner("run_id", "runs.id", primary_key=True),
        _owner("logged_model_id", "logged_models.id", primary_key=True),
    )

    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(256), nullable=False, unique=True),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
    )
    _key_value("registered_model_tags", "registered_model_id", "registered_models.id")
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _owner("registered_model_id", "registered_models.id", primary_key=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("last_updated_time", sa.BigInteger, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("current_stage", sa.String(20), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("storage_location", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("run_link", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_message", sa.Text, nullable=False),
        sa.Column("model_id", sa.String(34)),
        sa.UniqueConstraint("registered_model_id", "version", name="uq_model_versions_version"),
    )
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    _key_value("model_version_tags", "model_version_id", "model_versions.id")
    op.create_table(
        "registered_model_aliases",
        _owner("registered_model_id", "registered_models.id", primary_key=True),
        sa.Column("alias", sa.String(255), primary_key=True),
        _owner("model_version_id", "model_versions.id", primary_key=False),
    )
