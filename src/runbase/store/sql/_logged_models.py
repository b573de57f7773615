"""Logged models and run ↔ model links in the SQL store: functions on an open connection.

``SqlModelStore`` (``_models.py``) owns the transactions; everything here runs inside one.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from runbase import _validation as v
from runbase._names import generate_run_name
from runbase.entities import LifecycleStage
from runbase.errors import InvalidInputError, NotFoundError
from runbase.model_entities import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelMetric,
    LoggedModelOutput,
    LoggedModelStatus,
    RunModels,
)
from runbase.store import _model_validation as mv
from runbase.store.base import now_ms
from runbase.store.sql._metrics import dialect_insert
from runbase.store.sql._schema import (
    experiments,
    logged_model_metrics,
    logged_model_params,
    logged_model_tags,
    logged_models,
    run_model_inputs,
    run_outputs,
    runs,
)

_LM = logged_models.c
_LOAD_BATCH = 500
_METRIC_FIELDS = ("key", "value", "timestamp", "step", "run_id", "dataset_name", "dataset_digest")


def not_found(model_id: str) -> NotFoundError:
    return NotFoundError(f"Logged model with ID '{model_id}' not found.")


def experiment_pk(experiment_id: str) -> int:
    try:
        pk = int(experiment_id)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"Invalid experiment id {experiment_id!r}: expected a decimal string"
        ) from None
    if not -(2**31) <= pk < 2**31:  # the column's range; beyond it the database errs
        raise InvalidInputError(f"Invalid experiment id {experiment_id!r}: out of range")
    return pk


def model_pk(conn: sa.Connection, model_id: str) -> int:
    pk = conn.execute(sa.select(_LM.id).where(_LM.model_id == mv.model_id(model_id))).scalar()
    if pk is None:
        raise not_found(model_id)
    return int(pk)


def active_run_pk(conn: sa.Connection, run_id: str) -> int:
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInputError(f"Invalid run id {run_id!r}")
    row = conn.execute(
        sa.select(runs.c.id, runs.c.lifecycle_stage).where(runs.c.run_uuid == run_id)
    ).first()
    if row is None:
        raise NotFoundError(f"Run with id={run_id} not found")
    if row.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidInputError(
            f"The run {run_id} must be in the 'active' state. "
            f"Current state is {row.lifecycle_stage}."
        )
    return int(row.id)


def _touch(conn: sa.Connection, pk: int) -> None:
    conn.execute(sa.update(logged_models).where(_LM.id == pk).values(last_updated_time=now_ms()))


# -- writes --------------------------------------------------------------------------------------
def create(
    conn: sa.Connection,
    experiment_id: str,
    *,
    name: str | None,
    source_run_id: str | None,
    model_type: str | None,
    tags: Mapping[str, str] | None,
    params: Mapping[str, str] | None,
) -> LoggedModel:
    name = generate_run_name() if name is None else mv.logged_model_name(name)
    tag_map = mv.logged_model_tags(tags)
    param_map = mv.logged_model_params(params)
    model_type = mv.optional(model_type, "model_type", mv.MAX_MODEL_TYPE_LENGTH)
    source_run_id = mv.optional(source_run_id, "source_run_id", mv.MAX_RUN_ID_LENGTH)
    exp_pk = experiment_pk(experiment_id)
    exp = conn.execute(
        sa.select(experiments.c.artifact_location, experiments.c.lifecycle_stage).where(
            experiments.c.experiment_id == exp_pk
        )
    ).first()
    if exp is None:
        raise NotFoundError(f"No experiment with id={experiment_id}")
    if exp.lifecycle_stage != LifecycleStage.ACTIVE:
        raise InvalidInputError(
            f"The experiment {experiment_id} must be in the 'active' state. "
            f"Current state is {exp.lifecycle_stage}."
        )
    model_id = f"m-{uuid.uuid4().hex}"
    now = now_ms()
    pk = conn.execute(
        sa.insert(logged_models)
        .values(
            model_id=model_id,
            experiment_id=exp_pk,
            name=name,
            artifact_location=f"{exp.artifact_location.rstrip('/')}/models/{model_id}/artifacts",
            creation_time=now,
            last_updated_time=now,
            status=LoggedModelStatus.PENDING,
            model_type=model_type,
            source_run_id=source_run_id,
        )
        .returning(_LM.id)
    ).scalar_one()
    for table, items in ((logged_model_tags, tag_map), (logged_model_params, param_map)):
        if items:
            conn.execute(
                sa.insert(table),
                [{"logged_model_id": pk, "key": k, "value": val} for k, val in items.items()],
            )
    return load(conn, _LM.id == pk)[0]


def update_status(
    conn: sa.Connection, model_id: str, status: str, status_message: str | None
) -> LoggedModel:
    if status not in LoggedModelStatus.ALL:
        raise InvalidInputError(
            f"Invalid logged model status {status!r}; expected one of "
            f"{sorted(LoggedModelStatus.ALL)}"
        )
    pk = model_pk(conn, model_id)
    conn.execute(
        sa.update(logged_models)
        .where(_LM.id == pk)
        .values(status=status, status_message=status_message, last_updated_time=now_ms())
    )
    return load(conn, _LM.id == pk)[0]


def delete(conn: sa.Connection, model_id: str) -> None:
    if not conn.execute(sa.delete(logged_models).where(_LM.model_id == model_id)).rowcount:
        raise not_found(model_id)


def set_tags(conn: sa.Connection, model_id: str, tags: Mapping[str, str]) -> None:
    items = mv.logged_model_tags(tags)
    pk = model_pk(conn, model_id)
    if items:
        stmt = dialect_insert(conn, logged_model_tags)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["logged_model_id", "key"], set_={"value": stmt.excluded.value}
            ),
            [{"logged_model_id": pk, "key": k, "value": val} for k, val in items.items()],
        )
        _touch(conn, pk)


def delete_tag(conn: sa.Connection, model_id: str, key: str) -> None:
    pk = model_pk(conn, model_id)
    t = logged_model_tags.c
    if not conn.execute(
        sa.delete(logged_model_tags).where(t.logged_model_id == pk, t.key == key)
    ).rowcount:
        raise NotFoundError(f"No tag with key {key!r} found for model with ID {model_id!r}.")
    _touch(conn, pk)


def log_params(conn: sa.Connection, model_id: str, params: Mapping[str, str]) -> None:
    items = mv.logged_model_params(params)
    pk = model_pk(conn, model_id)
    if not items:
        return
    p = logged_model_params.c
    stored = dict(
        conn.execute(
            sa.select(p.key, p.value).where(p.logged_model_id == pk, p.key.in_(list(items)))
        ).all()
    )
    for key, value in items.items():
        if key in stored and stored[key] != value:
            raise InvalidInputError(
                f"Changing param values is not allowed. Param with key={key!r} was already "
                f"logged with value={stored[key]!r} for model {model_id}; attempted new "
                f"value={value!r}"
            )
    new = [{"logged_model_id": pk, "key": k, "value": val} for k, val in items.items()]
    conn.execute(dialect_insert(conn, logged_model_params).on_conflict_do_nothing(), new)
    _touch(conn, pk)


def log_metrics(conn: sa.Connection, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
    rows = []
    for m in metrics:
        v.validate_key("Metric key", m.key)
        value = v.validate_metric_value(m.key, m.value)
        rows.append(
            {
                "key": m.key,
                "value": None if math.isnan(value) else value,
                "timestamp": int(m.timestamp),
                "step": v.validate_step(m.key, m.step),
                "run_id": mv.optional(m.run_id, "run_id", mv.MAX_RUN_ID_LENGTH),
                "dataset_name": mv.optional(
                    m.dataset_name, "dataset_name", mv.MAX_DATASET_NAME_LENGTH
                ),
                "dataset_digest": mv.optional(
                    m.dataset_digest, "dataset_digest", mv.MAX_DATASET_DIGEST_LENGTH
                ),
            }
        )
    pk = model_pk(conn, model_id)
    # Exact duplicates (a retried request) are dropped, as for run metrics.
    points = {tuple(r[f] for f in _METRIC_FIELDS): r for r in rows}
    if points:
        c = logged_model_metrics.c
        stored = conn.execute(
            sa.select(*(c[f] for f in _METRIC_FIELDS)).where(
                c.logged_model_id == pk, c.key.in_({r["key"] for r in rows})
            )
        )
        for row in stored:
            points.pop(tuple(row), None)
    if points:
        conn.execute(
            sa.insert(logged_model_metrics),
            [{"logged_model_id": pk, **r} for r in points.values()],
        )
        _touch(conn, pk)


def _linked_models(conn: sa.Connection, model_ids: Sequence[str]) -> dict[str, int]:
    wanted = {mv.model_id(m) for m in model_ids}
    found = dict(
        conn.execute(sa.select(_LM.model_id, _LM.id).where(_LM.model_id.in_(wanted))).all()
    )
    for model_id in sorted(wanted - set(found)):
        raise not_found(model_id)
    return found


def _step(output: LoggedModelOutput) -> int:
    step = output.step
    if isinstance(step, bool) or not isinstance(step, int) or not -(2**63) <= step < 2**63:
        raise InvalidInputError(
            f"Step of model output {output.model_id} must be a 64-bit integer, got {step!r}"
        )
    return step


def log_outputs(conn: sa.Connection, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
    run_pk = active_run_pk(conn, run_id)
    steps = {m.model_id: _step(m) for m in models}
    pks = _linked_models(conn, list(steps))
    if steps:
        stmt = dialect_insert(conn, run_outputs)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["run_id", "logged_model_id"], set_={"step": stmt.excluded.step}
            ),
            [{"run_id": run_pk, "logged_model_id": pks[m], "step": s} for m, s in steps.items()],
        )


def log_inputs(conn: sa.Connection, run_id: str, models: Sequence[LoggedModelInput]) -> None:
    run_pk = active_run_pk(conn, run_id)
    pks = _linked_models(conn, [m.model_id for m in models])
    if pks:
        conn.execute(
            dialect_insert(conn, run_model_inputs).on_conflict_do_nothing(),
            [{"run_id": run_pk, "logged_model_id": pk} for pk in pks.values()],
        )


# -- reads ---------------------------------------------------------------------------------------
def get(conn: sa.Connection, model_id: str) -> LoggedModel:
    found = load(conn, _LM.model_id == mv.model_id(model_id))
    if not found:
        raise not_found(model_id)
    return found[0]


def load(conn: sa.Connection, where: Any) -> list[LoggedModel]:
    return load_rows(conn, conn.execute(sa.select(logged_models).where(where)).all())


def load_rows(conn: sa.Connection, rows: Sequence[Any]) -> list[LoggedModel]:
    """Whole logged models for ``logged_models`` rows, in order, with a few batched queries."""
    parts: dict[int, dict[str, Any]] = {
        r.id: {"tags": {}, "params": {}, "metrics": []} for r in rows
    }
    pks = list(parts)
    for start in range(0, len(pks), _LOAD_BATCH):
        batch = pks[start : start + _LOAD_BATCH]
        for table, field in ((logged_model_tags, "tags"), (logged_model_params, "params")):
            for pk, key, value in conn.execute(
                sa.select(table.c.logged_model_id, table.c.key, table.c.value).where(
                    table.c.logged_model_id.in_(batch)
                )
            ):
                parts[pk][field][key] = value
        m = logged_model_metrics.c
        for r in conn.execute(
            sa.select(logged_model_metrics)
            .where(m.logged_model_id.in_(batch))
            .order_by(m.logged_model_id, m.step, m.timestamp, m.id)
        ):
            parts[r.logged_model_id]["metrics"].append(
                LoggedModelMetric(
                    key=r.key,
                    value=math.nan if r.value is None else r.value,
                    timestamp=r.timestamp,
                    step=r.step,
                    run_id=r.run_id,
                    dataset_name=r.dataset_name,
                    dataset_digest=r.dataset_digest,
                )
            )
    return [
        LoggedModel(
            model_id=r.model_id,
            experiment_id=str(r.experiment_id),
            name=r.name,
            artifact_location=r.artifact_location,
            creation_timestamp_ms=r.creation_time,
            last_updated_timestamp_ms=r.last_updated_time,
            status=r.status,
            status_message=r.status_message,
            model_type=r.model_type,
            source_run_id=r.source_run_id,
            tags=dict(sorted(parts[r.id]["tags"].items())),
            params=dict(sorted(parts[r.id]["params"].items())),
            metrics=parts[r.id]["metrics"],
        )
        for r in rows
    ]


def run_models(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, RunModels]:
    out: dict[str, RunModels] = {}
    wanted = list(dict.fromkeys(run_ids))
    for start in range(0, len(wanted), _LOAD_BATCH):
        batch = wanted[start : start + _LOAD_BATCH]
        inputs: dict[str, list[LoggedModelInput]] = {}
        outputs: dict[str, list[LoggedModelOutput]] = {}
        o = run_outputs.c
        for run_uuid, model_id, step in conn.execute(
            sa.select(runs.c.run_uuid, _LM.model_id, o.step)
            .select_from(run_outputs)
            .join(runs, runs.c.id == o.run_id)
            .join(logged_models, _LM.id == o.logged_model_id)
            .where(runs.c.run_uuid.in_(batch))
            .order_by(runs.c.run_uuid, o.step, _LM.id)
        ):
            outputs.setdefault(run_uuid, []).append(LoggedModelOutput(model_id, step))
        i = run_model_inputs.c
        for run_uuid, model_id in conn.execute(
            sa.select(runs.c.run_uuid, _LM.model_id)
            .select_from(run_model_inputs)
            .join(runs, runs.c.id == i.run_id)
            .join(logged_models, _LM.id == i.logged_model_id)
            .where(runs.c.run_uuid.in_(batch))
            .order_by(runs.c.run_uuid, _LM.id)
        ):
            inputs.setdefault(run_uuid, []).append(LoggedModelInput(model_id))
        for run_uuid in batch:
            out[run_uuid] = RunModels(inputs.get(run_uuid, []), outputs.get(run_uuid, []))
    return {run_id: out[run_id] for run_id in run_ids}
