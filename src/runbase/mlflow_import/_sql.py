"""An MLflow tracking database (``sqlite:///mlflow.db``, ``postgresql://...``), read with plain
SQL over MLflow's tables; the schema has kept these columns since MLflow 2.

Artifacts live wherever each run's ``artifact_uri`` says: a local path or ``file:`` URI is
copied; ``mlflow-artifacts:/...`` (a server's proxied store) is looked up under
``artifacts_root`` — by default the ``mlartifacts`` folder next to a SQLite file, where
``mlflow server`` keeps them unless told otherwise.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from runbase.entities import Dataset, DatasetInput
from runbase.errors import InvalidInputError
from runbase.mlflow_import._source import (
    Source,
    SourceExperiment,
    SourceRun,
    copy_local_artifacts,
    local_path,
)
from runbase.store.base import MetricColumns

__all__ = ["SqlSource"]

_PROXY = "mlflow-artifacts:"


class SqlSource(Source):
    def __init__(self, uri: str, artifacts_root: Path | None = None) -> None:
        if uri.startswith("postgresql://"):
            uri = "postgresql+psycopg://" + uri[len("postgresql://") :]
        self.uri = uri
        self.engine = sa.create_engine(uri)
        try:
            with self.engine.connect() as conn:
                tables = set(sa.inspect(conn).get_table_names())
        except sa.exc.SQLAlchemyError as exc:
            raise InvalidInputError(f"Cannot open {uri}: {exc}") from None
        if not {"experiments", "runs", "metrics", "params", "tags"} <= tables:
            self.engine.dispose()
            raise InvalidInputError(f"{uri} is not an MLflow tracking database")
        self._has_inputs = {"inputs", "datasets", "input_tags"} <= tables
        if artifacts_root is None and self.engine.url.get_backend_name() == "sqlite":
            database = self.engine.url.database or ""
            artifacts_root = Path(database).parent / "mlartifacts" if database else None
        self.artifacts_root = artifacts_root

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def _rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def experiments(self) -> list[SourceExperiment]:
        tags: dict[str, dict[str, str]] = defaultdict(dict)
        for key, value, experiment_id in self._rows(
            "SELECT key, value, experiment_id FROM experiment_tags"
        ):
            tags[str(experiment_id)][key] = value or ""
        return [
            SourceExperiment(str(eid), name, stage or "active", tags[str(eid)])
            for eid, name, stage in self._rows(
                "SELECT experiment_id, name, lifecycle_stage FROM experiments "
                "ORDER BY experiment_id"
            )
        ]

    def runs(self, experiment_id: str) -> list[SourceRun]:
        rows = self._rows(
            "SELECT run_uuid, name, user_id, status, start_time, end_time, lifecycle_stage, "
            "artifact_uri FROM runs WHERE experiment_id = :e ORDER BY start_time, run_uuid",
            e=int(experiment_id) if experiment_id.isdigit() else experiment_id,
        )
        ids = [r[0] for r in rows]
        params = self._by_run("SELECT run_uuid, key, value FROM params", ids)
        tags = self._by_run("SELECT run_uuid, key, value FROM tags", ids)
        return [
            SourceRun(
                run_id=run_id,
                experiment_id=experiment_id,
                name=name or tags[run_id].get("mlflow.runName", ""),
                user_id=user or "",
                status=status or "FINISHED",
                start_time=start,
                end_time=end,
                lifecycle_stage=stage or "active",
                artifact_uri=artifact_uri or "",
                params=params[run_id],
                tags=tags[run_id],
            )
            for run_id, name, user, status, start, end, stage, artifact_uri in rows
        ]

    def _by_run(self, sql: str, run_ids: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for chunk in range(0, len(run_ids), 500):
            part = run_ids[chunk : chunk + 500]
            query = sa.text(f"{sql} WHERE run_uuid IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            )
            with self.engine.connect() as conn:
                for run_id, key, value in conn.execute(query, {"ids": part}):
                    out[run_id][key] = value or ""
        return out

    def metrics(self, run: SourceRun) -> dict[str, MetricColumns]:
        series: dict[str, tuple[list[int], list[int], list[float]]] = {}
        for key, step, stamp, value, is_nan in self._rows(
            "SELECT key, step, timestamp, value, is_nan FROM metrics WHERE run_uuid = :r "
            "ORDER BY key, step, timestamp",
            r=run.run_id,
        ):
            steps, stamps, values = series.setdefault(key, ([], [], []))
            steps.append(int(step or 0))
            stamps.append(int(stamp or 0))
            values.append(math.nan if is_nan else float(value))
        return {
            key: MetricColumns(
                np.array(s, np.int64), np.array(t, np.int64), np.array(v, np.float64)
            )
            for key, (s, t, v) in series.items()
        }

    def datasets(self, run: SourceRun) -> list[DatasetInput]:
        if not self._has_inputs:
            return []
        rows = self._rows(
            "SELECT i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, "
            "d.dataset_schema, d.dataset_profile FROM inputs i JOIN datasets d "
            "ON d.dataset_uuid = i.source_id WHERE i.source_type = 'DATASET' "
            "AND i.destination_type = 'RUN' AND i.destination_id = :r ORDER BY i.input_uuid",
            r=run.run_id,
        )
        out = []
        for input_id, name, digest, source_type, source, schema, profile in rows:
            tags = {
                k: v or ""
                for k, v in self._rows(
                    "SELECT name, value FROM input_tags WHERE input_uuid = :i", i=input_id
                )
            }
            dataset = Dataset(
                name or "",
                digest or "",
                source_type or "",
                source or "",
                schema or "",
                profile or "",
            )
            out.append(DatasetInput(dataset, tags))
        return out

    def fetch_artifacts(self, run: SourceRun, destination: Path) -> bool:
        uri = run.artifact_uri
        if uri.startswith(_PROXY):
            root = self.artifacts_root
            relative = Path(uri[len(_PROXY) :].lstrip("/"))
            if root is None or not root.is_dir() or ".." in relative.parts:
                return False
            copy_local_artifacts(root / relative, destination)
            return True
        folder = local_path(uri)
        if folder is None:  # s3://, gs://, ...: another store
            return False
        copy_local_artifacts(folder, destination)
        return True
