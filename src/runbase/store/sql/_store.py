"""The SQL store: SQLite (embedded, the default) and PostgreSQL (teams), on SQLAlchemy Core."""

from __future__ import annotations

import functools
import json
import uuid
from collections import ChainMap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from runbase import _validation as v
from runbase.entities import (
    CONTEXT_TAG,
    Dataset,
    DatasetInput,
    Experiment,
    LifecycleStage,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunStatus,
    RunTag,
    ViewType,
)
from runbase.errors import AlreadyExistsError, InvalidInputError, NotFoundError, StoreError
from runbase.store.base import (
    DEFAULT_EXPERIMENT_ID,
    DEFAULT_EXPERIMENT_NAME,
    MAX_JOURNAL_BATCH,
    RUN_KEYS_SAMPLE,
    DeletedRun,
    ExperimentSummary,
    Lease,
    MetricColumns,
    RunKeys,
    RunPage,
    Store,
    now_ms,
    validate_batch_id,
    validate_journal_entries,
    validate_name,
    validate_ttl,
)
from runbase.store.sql import (
    _coordination,
    _metrics,
    _overview,
    _plain,
    _purge,
    _run_parts,
    _search,
)
from runbase.store.sql._engine import create_engines, dispose_engines, ensure_schema
from runbase.store.sql._models import SqlModelStore
from runbase.store.sql._schema import (
    datasets,
    experiment_tags,
    experiments,
    ingest_batches,
    run_inputs,
    run_params,
    run_tags,
    runs,
)

RUN_NAME_TAG = "mlflow.runName"
#: What ``_run_info`` reads from a ``runs`` row.
_RUN_INFO_COLUMNS = (
    "run_uuid, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, "
    "lifecycle_stage"
)


def default_artifact_root(uri: str) -> str:
    """Artifacts sit next to a SQLite file; for a server database, under the working directory."""
    url = sa.make_url(uri)
    if url.get_backend_name() == "sqlite" and url.database:
        base = Path(url.database).expanduser().resolve().parent
    else:
        base = Path.cwd()
    return (base / "runbase-artifacts").as_uri()


class SqlStore(Store):
    """A :class:`~runbase.store.base.Store` on a SQL database (see the module docstring)."""

    def __init__(self, uri: str, artifact_root: str | None = None) -> None:
        self.uri = uri
        self.artifact_root = (artifact_root or default_artifact_root(uri)).rstrip("/")
        self._write_engine, self._read_engine = create_engines(uri)
        self._key_ids: dict[str, int] = {}
        with self._errors():
            ensure_schema(
                self._write_engine, auto_upgrade=self._write_engine.dialect.name == "sqlite"
            )
            self._ensure_default_experiment()

    def close(self) -> None:
        dispose_engines(self._write_engine, self._read_engine)

    @functools.cached_property
    def models(self) -> SqlModelStore:
        """The model registry and logged models on this store's database and connections."""
        return SqlModelStore(self._write_engine, self._read_engine)

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"Database error in {self._safe_uri()}: {exc.orig}") from exc

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._errors(), self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._errors(), self._read_engine.begin() as conn:
            yield conn

    def _safe_uri(self) -> str:
        return sa.make_url(self.uri).render_as_string(hide_password=True)

    # -- experiments -------------------------------------------------------------------------
    def _ensure_default_experiment(self) -> None:
        with self._write() as conn:
            exists = conn.execute(
                sa.select(experiments.c.experiment_id).where(experiments.c.experiment_id == 0)
            ).first()
            if exists is None:
                now = now_ms()
                conn.execute(
                    sa.insert(experiments).values(
                        experiment_id=0,
                        name=DEFAULT_EXPERIMENT_NAME,
                        artifact_location=f"{self.artifact_root}/{DEFAULT_EXPERIMENT_ID}",
                        lifecycle_stage=LifecycleStage.ACTIVE,
                        creation_time=now,
                        last_update_time=now,
                    )
                )

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        v.validate_experiment_name(name)
        tag_rows = _validated_tags(tags or {})
        with self._write() as conn:
            taken = conn.execute(
                sa.select(experiments.c.lifecycle_stage).where(experiments.c.name == name)
            ).first()
            if taken is not None:
                raise AlreadyExistsError(
                    f"Experiment {name!r} already exists"
                    + (
                        " (deleted: restore it or pick another name)"
                        if taken[0] != "active"
                        else ""
                    )
                )
            now = now_ms()
            exp_id = conn.execute(
                sa.insert(experiments)
                .values(
                    name=name,
                    artifact_location=artifact_location or "",
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    creation_time=now,
                    last_update_time=now,
                )
                .returning(experiments.c.experiment_id)
            ).scalar_one()
            if not artifact_location:
                conn.execute(
                    sa.update(experiments)
                    .where(experiments.c.experiment_id == exp_id)
                    .values(artifact_location=f"{self.artifact_root}/{exp_id}")
                )
            if tag_rows:
                conn.execute(
                    sa.insert(experiment_tags),
                    [{"experiment_id": exp_id, "key": t.key, "value": t.value} for t in tag_rows],
                )
        return str(exp_id)

    def _experiments(self, conn: sa.Connection, where: Any) -> list[Experiment]:
        rows = conn.execute(
            sa.select(experiments).where(where).order_by(experiments.c.experiment_id)
        ).all()
        if not rows:
            return []
        tag_map: dict[int, dict[str, str]] = {}
        for exp_id, key, value in conn.execute(
            sa.select(experiment_tags).where(
                experiment_tags.c.experiment_id.in_([r.experiment_id for r in rows])
            )
        ):
            tag_map.setdefault(exp_id, {})[key] = value
        return [
            Experiment(
                experiment_id=str(r.experiment_id),
                name=r.name,
                artifact_location=r.artifact_location,
                lifecycle_stage=r.lifecycle_stage,
                creation_time=r.creation_time,
                last_update_time=r.last_update_time,
                tags=tag_map.get(r.experiment_id, {}),
            )
            for r in rows
        ]

    def get_experiment(self, experiment_id: str) -> Experiment:
        exp_pk = _experiment_pk(experiment_id)
        with self._read() as conn:
            found = self._experiments(conn, experiments.c.experiment_id == exp_pk)
        if not found:
            raise NotFoundError(f"No experiment with id={experiment_id}")
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        with self._read() as conn:
            found = self._experiments(conn, experiments.c.name == name)
        return found[0] if found else None

    def search_experiments(self, view_type: str = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        with self._read() as conn:
            return self._experiments(conn, _lifecycle_filter(experiments, view_type))

    def experiment_summaries(
        self, view_type: str = ViewType.ACTIVE_ONLY
    ) -> list[ExperimentSummary]:
        with self._read() as conn:
            found = self._experiments(conn, _lifecycle_filter(experiments, view_type))
            return _overview.experiment_summaries(conn, found)

    def run_keys(self, experiment_ids: Sequence[str], max_runs: int = RUN_KEYS_SAMPLE) -> RunKeys:
        if max_runs < 1:
            raise InvalidInputError(f"max_runs must be at least 1: {max_runs}")
        pks = [_experiment_pk(e) for e in experiment_ids]
        if not pks:
            return RunKeys()
        with self._read() as conn:
            return _overview.run_keys(conn, pks, max_runs)

    def child_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        with self._read() as conn:
            return _overview.child_counts(conn, run_ids)

    def _set_experiment_stage(self, experiment_id: str, stage: str) -> None:
        exp_pk = _experiment_pk(experiment_id)
        with self._write() as conn:
            now = now_ms()
            updated = conn.execute(
                sa.update(experiments)
                .where(experiments.c.experiment_id == exp_pk)
                .values(lifecycle_stage=stage, last_update_time=now)
            ).rowcount
            if not updated:
                raise NotFoundError(f"No experiment with id={experiment_id}")
            conn.execute(
                sa.update(runs)
                .where(runs.c.experiment_id == exp_pk)
                .values(
                    lifecycle_stage=stage,
                    deleted_time=now if stage == LifecycleStage.DELETED else None,
                )
            )

    def delete_experiment(self, experiment_id: str) -> None:
        if experiment_id == DEFAULT_EXPERIMENT_ID:
            raise InvalidInputError("The default experiment cannot be deleted")
        self._set_experiment_stage(experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_stage(experiment_id, LifecycleStage.ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        v.validate_experiment_name(new_name)
        exp_pk = _experiment_pk(experiment_id)
        with self._write() as conn:
            stage = conn.execute(
                sa.select(experiments.c.lifecycle_stage).where(
                    experiments.c.experiment_id == exp_pk
                )
            ).scalar()
            if stage is None:
                raise NotFoundError(f"No experiment with id={experiment_id}")
            if stage != LifecycleStage.ACTIVE:
                raise InvalidInputError("Cannot rename a non-active experiment.")
            taken = conn.execute(
                sa.select(experiments.c.experiment_id).where(
                    experiments.c.name == new_name, experiments.c.experiment_id != exp_pk
                )
            ).first()
            if taken is not None:
                raise AlreadyExistsError(f"Experiment {new_name!r} already exists")
            conn.execute(
                sa.update(experiments)
                .where(experiments.c.experiment_id == exp_pk)
                .values(name=new_name, last_update_time=now_ms())
            )

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        (tag,) = _validated_tags({key: value})
        exp_pk = _experiment_pk(experiment_id)
        with self._write() as conn:
            if (
                conn.execute(
                    sa.select(experiments.c.experiment_id).where(
                        experiments.c.experiment_id == exp_pk
                    )
                ).first()
                is None
            ):
                raise NotFoundError(f"No experiment with id={experiment_id}")
            stmt = _metrics.dialect_insert(conn, experiment_tags).values(
                experiment_id=exp_pk, key=tag.key, value=tag.value
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["experiment_id", "key"], set_={"value": tag.value}
                )
            )

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str,
        user_id: str = "",
        start_time: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        v.validate_run_name(run_name)
        all_tags = dict(tags or {})
        all_tags[RUN_NAME_TAG] = run_name
        tag_rows = _validated_tags(all_tags)
        exp_pk = _experiment_pk(experiment_id)
        run_uuid = uuid.uuid4().hex
        with self._write() as conn:
            exp = _plain.execute(
                conn,
                "SELECT artifact_location, lifecycle_stage FROM experiments "
                "WHERE experiment_id = ?",
                (exp_pk,),
            ).first()
            if exp is None:
                raise NotFoundError(f"No experiment with id={experiment_id}")
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidInputError(
                    f"The experiment {experiment_id} must be in the 'active' state. "
                    f"Current state is {exp.lifecycle_stage}."
                )
            info = RunInfo(
                run_id=run_uuid,
                experiment_id=str(exp_pk),
                run_name=run_name,
                user_id=user_id,
                status=RunStatus.RUNNING,
                start_time=now_ms() if start_time is None else start_time,
                end_time=None,
                artifact_uri=f"{exp.artifact_location.rstrip('/')}/{run_uuid}/artifacts",
                lifecycle_stage=LifecycleStage.ACTIVE,
            )
            run_pk = _plain.execute(
                conn,
                "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, "
                "lifecycle_stage, artifact_uri) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    run_uuid,
                    exp_pk,
                    run_name,
                    user_id,
                    info.status,
                    info.start_time,
                    info.lifecycle_stage,
                    info.artifact_uri,
                ),
            ).scalar_one()
            _plain.execute(
                conn,
                'INSERT INTO tags (run_id, "key", "value") VALUES (?, ?, ?)',
                [(run_pk, t.key, t.value) for t in tag_rows],
            )
        return Run(info=info, data=RunData(tags={t.key: t.value for t in tag_rows}))

    def get_run(self, run_id: str) -> Run:
        with self._read() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_uuid == _run_uuid(run_id))).first()
            if row is None:
                raise NotFoundError(f"Run with id={run_id} not found")
            return _load_runs(conn, [row])[0]

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        values: dict[str, Any] = {}
        if status is not None:
            if status not in RunStatus.ALL:
                raise InvalidInputError(
                    f"Invalid run status {status!r}; expected one of {sorted(RunStatus.ALL)}"
                )
            values["status"] = status
        if end_time is not None:
            values["end_time"] = end_time
        if run_name is not None:
            values["name"] = v.validate_run_name(run_name)
        with self._write() as conn:
            # One statement when the run may be written to; else the check says why not.
            if values:
                sets = ", ".join(f"{column} = ?" for column in values)
                sql = f"UPDATE runs SET {sets} WHERE run_uuid = ? AND lifecycle_stage = ? "
                sql += f"RETURNING id, {_RUN_INFO_COLUMNS}"
            else:
                sql = f"SELECT id, {_RUN_INFO_COLUMNS} FROM runs "
                sql += "WHERE run_uuid = ? AND lifecycle_stage = ?"
            row = _plain.execute(
                conn, sql, (*values.values(), _run_uuid(run_id), LifecycleStage.ACTIVE)
            ).first()
            if row is None:
                self._active_run(conn, run_id)  # raises: unknown or deleted
                raise NotFoundError(f"Run with id={run_id} not found")
            if run_name is not None:
                _upsert_tags(conn, row.id, [RunTag(RUN_NAME_TAG, run_name)])
        return _run_info(row)

    def _set_run_stage(self, run_id: str, stage: str) -> None:
        with self._write() as conn:
            updated = conn.execute(
                sa.update(runs)
                .where(runs.c.run_uuid == _run_uuid(run_id))
                .values(
                    lifecycle_stage=stage,
                    deleted_time=now_ms() if stage == LifecycleStage.DELETED else None,
                )
            ).rowcount
        if not updated:
            raise NotFoundError(f"Run with id={run_id} not found")

    def delete_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_stage(run_id, LifecycleStage.ACTIVE)

    def deleted_runs(self, deleted_before: int | None = None) -> list[DeletedRun]:
        with self._read() as conn:
            return _purge.deleted_runs(conn, deleted_before)

    def purge_run(self, run_id: str) -> None:
        with self._write() as conn:
            _purge.purge_run(conn, _run_uuid(run_id), run_id)

    def _run_pk(self, conn: sa.Connection, run_id: str) -> int:
        run_pk: int | None = _plain.execute(
            conn, "SELECT id FROM runs WHERE run_uuid = ?", (_run_uuid(run_id),)
        ).scalar()
        if run_pk is None:
            raise NotFoundError(f"Run with id={run_id} not found")
        return run_pk

    def _active_run(self, conn: sa.Connection, run_id: str) -> tuple[int, int]:
        """``(run pk, experiment pk)`` of a run that may be written to."""
        row = _plain.execute(
            conn,
            "SELECT id, experiment_id, lifecycle_stage FROM runs WHERE run_uuid = ?",
            (_run_uuid(run_id),),
        ).first()
        if row is None:
            raise NotFoundError(f"Run with id={run_id} not found")
        if row.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidInputError(
                f"The run {run_id} must be in the 'active' state. "
                f"Current state is {row.lifecycle_stage}."
            )
        return row.id, row.experiment_id

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> RunPage:
        v.validate_max_results(max_results)
        exp_pks = [_experiment_pk(e) for e in experiment_ids]
        query = _search.RunQuery.build(
            exp_pks,
            filter_string,
            view_type,
            _lifecycle_filter(runs, view_type),
            order_by,
            page_token,
        )
        with self._read() as conn:
            rows = query.execute(conn, max_results, self._key_ids)
            page = _load_runs(conn, rows[:max_results])
        token = query.next_token(max_results) if len(rows) > max_results else None
        return RunPage(page, token)

    # -- data --------------------------------------------------------------------------------
    def log_columns(
        self,
        run_id: str,
        metrics: Mapping[str, MetricColumns] | None = None,
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        series = _validated_series(metrics or {})
        param_rows = _validated_params(params)
        tag_rows = _validated_tags({t.key: t.value for t in tags})
        if batch_id is not None:
            validate_batch_id(batch_id)
        created: dict[str, int] = {}  # metric keys interned by this transaction
        with self._write() as conn:
            if batch_id is None:
                run_pk, _ = self._active_run(conn, run_id)
            else:
                # Record the id first: a batch already recorded is a no-op even if the run has
                # been deleted since; otherwise the usual checks roll the record back.
                run_pk = self._run_pk(conn, run_id)
                if not _record_batch(conn, run_pk, batch_id):
                    return
                self._active_run(conn, run_id)
            if param_rows:
                _insert_params(conn, run_pk, param_rows)
            if tag_rows:
                _upsert_tags(conn, run_pk, tag_rows)
            _metrics.write_series(conn, run_pk, series, ChainMap(created, self._key_ids))
        self._key_ids.update(created)  # committed: other writers may use these ids now

    def delete_tag(self, run_id: str, key: str) -> None:
        with self._write() as conn:
            run_pk, _ = self._active_run(conn, run_id)
            deleted = conn.execute(
                sa.delete(run_tags).where(run_tags.c.run_id == run_pk, run_tags.c.key == key)
            ).rowcount
        if not deleted:
            raise NotFoundError(f"No tag with key={key!r} in run {run_id}")

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        for item in inputs:
            _validate_dataset(item.dataset)
            _validated_tags(item.tags)
        with self._write() as conn:
            run_pk, exp_pk = self._active_run(conn, run_id)
            for item in inputs:
                ds = item.dataset
                conn.execute(
                    _metrics.dialect_insert(conn, datasets)
                    .values(experiment_id=exp_pk, **_dataset_fields(ds))
                    .on_conflict_do_nothing()
                )
                ds_pk = conn.execute(
                    sa.select(datasets.c.id).where(
                        datasets.c.experiment_id == exp_pk,
                        datasets.c.name == ds.name,
                        datasets.c.digest == ds.digest,
                    )
                ).scalar_one()
                conn.execute(
                    _metrics.dialect_insert(conn, run_inputs)
                    .values(
                        run_id=run_pk,
                        dataset_id=ds_pk,
                        context=item.tags.get(CONTEXT_TAG, ""),
                        tags=json.dumps(item.tags, sort_keys=True),
                    )
                    .on_conflict_do_nothing()
                )

    def get_metric_columns(self, run_id: str, key: str) -> MetricColumns:
        with self._read() as conn:
            return _metrics.read_series(conn, self._run_pk(conn, run_id), key)

    def get_metric_window(
        self,
        run_id: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        *,
        timestamps: bool = True,
    ) -> MetricColumns:
        with self._read() as conn:
            run_pk = self._run_pk(conn, run_id)
            return _metrics.read_series(conn, run_pk, key, start, end, timestamps=timestamps)

    # -- journals and leases -----------------------------------------------------------------
    def append_journal(
        self,
        journal: str,
        entries: Sequence[str],
        *,
        expected_length: int | None = None,
        append_id: str | None = None,
    ) -> int | None:
        validate_name("journal name", journal)
        items = validate_journal_entries(entries)
        if append_id is not None:
            validate_batch_id(append_id)
        if expected_length is not None and (
            isinstance(expected_length, bool) or expected_length < 0
        ):
            raise InvalidInputError(f"Invalid expected_length {expected_length!r}")
        with self._write() as conn:
            return _coordination.append(conn, journal, items, expected_length, append_id)

    def read_journal(
        self, journal: str, start: int = 0, limit: int = MAX_JOURNAL_BATCH
    ) -> list[str]:
        validate_name("journal name", journal)
        if isinstance(start, bool) or start < 0:
            raise InvalidInputError(f"Invalid journal start {start!r}")
        if isinstance(limit, bool) or not 1 <= limit <= MAX_JOURNAL_BATCH:
            raise InvalidInputError(f"Invalid limit {limit!r}: expected 1 to {MAX_JOURNAL_BATCH}")
        with self._read() as conn:
            return _coordination.read(conn, journal, start, limit)

    def acquire_lease(self, scope: str, key: str, holder: str, ttl: float) -> bool:
        ttl_ms = _lease_args(scope, key, holder, ttl)
        with self._write() as conn:
            return _coordination.acquire_lease(conn, scope, key, holder, ttl_ms)

    def release_lease(self, scope: str, key: str, holder: str) -> bool:
        _lease_args(scope, key, holder, 1)
        with self._write() as conn:
            return _coordination.release_lease(conn, scope, key, holder)

    def list_leases(self, scope: str) -> list[Lease]:
        validate_name("lease scope", scope)
        with self._read() as conn:
            return _coordination.list_leases(conn, scope)


# -- validation helpers --------------------------------------------------------------------------
def _lease_args(scope: str, key: str, holder: str, ttl: float) -> int:
    validate_name("lease scope", scope)
    validate_name("lease key", key)
    validate_name("lease holder", holder)
    return validate_ttl(ttl)


def _experiment_pk(experiment_id: str) -> int:
    try:
        pk = int(experiment_id)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"Invalid experiment id {experiment_id!r}: expected a decimal string"
        ) from None
    if not -(2**31) <= pk < 2**31:  # the column's range; beyond it the database errs
        raise InvalidInputError(f"Invalid experiment id {experiment_id!r}: out of range")
    return pk


def _run_uuid(run_id: str) -> str:
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"Invalid run id {run_id!r}")
    return run_id


def _lifecycle_filter(table: sa.Table, view_type: str) -> Any:
    if view_type not in ViewType.VALUES:
        raise InvalidInputError(
            f"Invalid view type {view_type!r}; expected one of {sorted(ViewType.VALUES)}"
        )
    stage = table.c.lifecycle_stage
    if view_type == ViewType.ACTIVE_ONLY:
        return stage == LifecycleStage.ACTIVE
    if view_type == ViewType.DELETED_ONLY:
        return stage == LifecycleStage.DELETED
    return sa.true()


def _validated_series(metrics: Mapping[str, MetricColumns]) -> dict[str, MetricColumns]:
    out = {}
    for key, cols in metrics.items():
        v.validate_key("Metric key", key)
        steps, stamps, values = cols
        if not steps.shape == stamps.shape == values.shape or steps.ndim != 1:
            raise InvalidInputError(
                f"Metric {key!r}: steps, timestamps and values must be 1-d arrays of one length"
            )
        out[key] = MetricColumns(
            steps.astype("int64", copy=False),
            stamps.astype("int64", copy=False),
            values.astype("float64", copy=False),
        )
    return out


def _validated_params(items: Sequence[Param]) -> list[Param]:
    seen: dict[str, str] = {}
    for p in items:
        v.validate_key("Param key", p.key)
        v.validate_value("Param", p.key, p.value, v.MAX_PARAM_VALUE_LENGTH)
        if seen.setdefault(p.key, p.value) != p.value:
            raise InvalidInputError(
                f"Duplicate parameter keys with different values were submitted: {p.key!r}"
            )
    return [Param(k, val) for k, val in seen.items()]


def _validated_tags(items: Mapping[str, str]) -> list[RunTag]:
    for key, value in items.items():
        v.validate_key("Tag key", key)
        v.validate_value("Tag", key, value, v.MAX_TAG_VALUE_LENGTH)
    return [RunTag(k, val) for k, val in items.items()]


def _validate_dataset(ds: Dataset) -> None:
    limits = {"name": 500, "digest": 36, "source_type": 36, "source": 65535}
    for field, limit in limits.items():
        value = getattr(ds, field)
        if not isinstance(value, str) or not value:
            raise InvalidInputError(f"Dataset {field} must be a non-empty string, got {value!r}")
        if len(value) > limit:
            raise InvalidInputError(f"Dataset {field} exceeds {limit} characters")


def _dataset_fields(ds: Dataset) -> dict[str, str]:
    return {
        "name": ds.name,
        "digest": ds.digest,
        "source_type": ds.source_type,
        "source": ds.source,
        "schema": ds.schema,
        "profile": ds.profile,
    }


# -- writes ----------------------------------------------------------------------------------
def _record_batch(conn: sa.Connection, run_pk: int, batch_id: str) -> bool:
    """Record a batch id; False when it was already recorded (the batch is stored)."""
    inserted = conn.execute(
        _metrics.dialect_insert(conn, ingest_batches)
        .values(batch_id=batch_id, run_id=run_pk, created_time=now_ms())
        .on_conflict_do_nothing()
        .returning(ingest_batches.c.batch_id)
    ).first()
    return inserted is not None


def _insert_params(conn: sa.Connection, run_pk: int, items: list[Param]) -> None:
    """Insert params; a key already logged must carry the same value or nothing is written."""
    inserted = set(
        conn.execute(
            _metrics.dialect_insert(conn, run_params)
            .on_conflict_do_nothing()
            .returning(run_params.c.key),
            [{"run_id": run_pk, "key": p.key, "value": p.value} for p in items],
        ).scalars()
    )
    existing = [p for p in items if p.key not in inserted]
    if not existing:
        return
    rows = conn.execute(
        sa.select(run_params.c.key, run_params.c.value).where(
            run_params.c.run_id == run_pk, run_params.c.key.in_([p.key for p in existing])
        )
    )
    stored: dict[str, str] = dict(rows.all())
    for p in existing:
        if stored.get(p.key) != p.value:
            raise InvalidInputError(
                f"Changing param values is not allowed. Param with key={p.key!r} was already "
                f"logged with value={stored.get(p.key)!r}; attempted new value={p.value!r}"
            )


def _upsert_tags(conn: sa.Connection, run_pk: int, items: list[RunTag]) -> None:
    stmt = _metrics.dialect_insert(conn, run_tags)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
        ),
        [{"run_id": run_pk, "key": t.key, "value": t.value} for t in items],
    )
    renamed = [t.value for t in items if t.key == RUN_NAME_TAG]
    if renamed:
        conn.execute(sa.update(runs).where(runs.c.id == run_pk).values(name=renamed[-1]))


# -- reads -----------------------------------------------------------------------------------
def _run_info(row: Any) -> RunInfo:
    return RunInfo(
        run_id=row.run_uuid,
        experiment_id=str(row.experiment_id),
        run_name=row.name,
        user_id=row.user_id,
        status=row.status,
        start_time=row.start_time,
        end_time=row.end_time,
        artifact_uri=row.artifact_uri,
        lifecycle_stage=row.lifecycle_stage,
    )


def _load_runs(conn: sa.Connection, rows: Sequence[Any]) -> list[Run]:
    """Whole runs for run rows, in the same order, with a few batched queries."""
    parts = _run_parts.load_parts(conn, [r.id for r in rows])
    out = []
    for row in rows:
        p = parts[row.id]
        out.append(
            Run(
                info=_run_info(row),
                data=RunData(
                    metrics={k: s.last for k, s in p.summaries.items()},
                    params=p.params,
                    tags=p.tags,
                    summaries=p.summaries,
                ),
                inputs=RunInputs(p.inputs),
            )
        )
    return out
