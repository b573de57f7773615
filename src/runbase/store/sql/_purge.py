"""Garbage collection's side of the SQL store: listing deleted runs and removing them for good.

Every table that holds something of a run refers to it with ``ON DELETE CASCADE``, so removing
the run's row removes its params, tags, metric summaries and chunks, inputs, outputs and batch
ids in the same transaction.
"""

from __future__ import annotations

import sqlalchemy as sa

from runbase.entities import LifecycleStage
from runbase.errors import InvalidInputError, NotFoundError
from runbase.store.base import DeletedRun
from runbase.store.sql._schema import runs

__all__ = ["deleted_runs", "purge_run"]


def deleted_runs(conn: sa.Connection, deleted_before: int | None) -> list[DeletedRun]:
    query = sa.select(
        runs.c.run_uuid, runs.c.experiment_id, runs.c.artifact_uri, runs.c.deleted_time
    ).where(runs.c.lifecycle_stage == LifecycleStage.DELETED)
    if deleted_before is not None:
        query = query.where(runs.c.deleted_time < deleted_before)
    query = query.order_by(runs.c.deleted_time.asc().nulls_first(), runs.c.id)
    return [
        DeletedRun(row.run_uuid, str(row.experiment_id), row.artifact_uri, row.deleted_time)
        for row in conn.execute(query)
    ]


def purge_run(conn: sa.Connection, run_uuid: str, run_id: str) -> None:
    stage = conn.execute(
        sa.select(runs.c.lifecycle_stage).where(runs.c.run_uuid == run_uuid)
    ).scalar()
    if stage is None:
        raise NotFoundError(f"Run with id={run_id} not found")
    if stage != LifecycleStage.DELETED:
        raise InvalidInputError(f"Run {run_id} is not deleted: delete it before purging it")
    conn.execute(sa.delete(runs).where(runs.c.run_uuid == run_uuid))
