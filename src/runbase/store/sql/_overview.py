"""Queries behind overviews (lists of experiments, key completion, run trees): aggregates the
SQL store answers in one statement each, where the generic fallbacks of ``Store`` page through
runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import sqlalchemy as sa

from runbase.entities import Experiment, LifecycleStage
from runbase.store.base import PARENT_RUN_TAG, ExperimentSummary, RunKeys
from runbase.store.sql._schema import metric_keys, metric_summaries, run_params, run_tags, runs

__all__ = ["child_counts", "experiment_summaries", "run_keys"]

#: Run ids per ``IN (...)`` list, well under every database's limit on bound parameters.
_BATCH: Final = 500


def experiment_summaries(
    conn: sa.Connection, experiments: list[Experiment]
) -> list[ExperimentSummary]:
    if not experiments:
        return []
    pks = [int(e.experiment_id) for e in experiments]
    rows = conn.execute(
        sa.select(
            runs.c.experiment_id,
            sa.func.count(),
            sa.func.max(runs.c.start_time),
            sa.func.max(runs.c.end_time),
        )
        .where(runs.c.experiment_id.in_(pks), runs.c.lifecycle_stage == LifecycleStage.ACTIVE)
        .group_by(runs.c.experiment_id)
    ).all()
    stats = {
        int(exp): (int(count), max(int(started or 0), int(ended or 0)) or None)
        for exp, count, started, ended in rows
    }
    return [ExperimentSummary(e, *stats.get(int(e.experiment_id), (0, None))) for e in experiments]


def run_keys(conn: sa.Connection, experiment_pks: list[int], max_runs: int) -> RunKeys:
    newest = (
        sa.select(runs.c.id)
        .where(
            runs.c.experiment_id.in_(experiment_pks),
            runs.c.lifecycle_stage == LifecycleStage.ACTIVE,
        )
        .order_by(runs.c.start_time.desc(), runs.c.id.desc())
        .limit(max_runs)
        .scalar_subquery()
    )

    def distinct(column: sa.ColumnElement[str], run_column: sa.ColumnElement[int]) -> list[str]:
        query = sa.select(column).distinct().where(run_column.in_(newest)).order_by(column)
        return list(conn.execute(query).scalars())

    metrics_query = (
        sa.select(metric_keys.c.key)
        .where(
            metric_keys.c.id.in_(
                sa.select(metric_summaries.c.key_id)
                .distinct()
                .where(metric_summaries.c.run_id.in_(newest))
            )
        )
        .order_by(metric_keys.c.key)
    )
    return RunKeys(
        params=distinct(run_params.c.key, run_params.c.run_id),
        metrics=list(conn.execute(metrics_query).scalars()),
        tags=distinct(run_tags.c.key, run_tags.c.run_id),
    )


def child_counts(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, int]:
    wanted = list(dict.fromkeys(run_ids))
    counts: dict[str, int] = {}
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        query = (
            sa.select(run_tags.c.value, sa.func.count())
            .join(runs, runs.c.id == run_tags.c.run_id)
            .where(
                run_tags.c.key == PARENT_RUN_TAG,
                run_tags.c.value.in_(batch),
                runs.c.lifecycle_stage == LifecycleStage.ACTIVE,
            )
            .group_by(run_tags.c.value)
        )
        counts.update((str(parent), int(n)) for parent, n in conn.execute(query))
    return counts
