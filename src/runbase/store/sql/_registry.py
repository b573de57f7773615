"""Registered models, model versions, their tags and aliases in the SQL store: functions on an
open connection. ``SqlModelStore`` (``_models.py``) owns the transactions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from runbase.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from runbase.model_entities import ModelStage, ModelVersion, ModelVersionStatus, RegisteredModel
from runbase.store import _model_validation as mv
from runbase.store.base import now_ms
from runbase.store.sql import _logged_models
from runbase.store.sql._metrics import dialect_insert
from runbase.store.sql._schema import (
    logged_models,
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
    runs,
)

_RM = registered_models.c
_MV = model_versions.c
_ALIAS = registered_model_aliases.c
_LOAD_BATCH = 500
_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/]+)|@(?P<alias>[^/]+))/?$")
_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)(?:/(?P<path>.*))?$")


def model_not_found(name: str) -> NotFoundError:
    return NotFoundError(f"Registered Model with name={name} not found")


def version_not_found(name: str, version: int | str) -> NotFoundError:
    return NotFoundError(f"Model Version (name={name}, version={version}) not found")


def model_pk(conn: sa.Connection, name: str) -> int:
    pk = conn.execute(sa.select(_RM.id).where(_RM.name == mv.model_name(name))).scalar()
    if pk is None:
        raise model_not_found(name)
    return int(pk)


def version_row(conn: sa.Connection, name: str, version: int | str) -> Any:
    """The ``model_versions`` row (with the model's ``name``) of an existing version."""
    number = mv.version(version)
    if not 0 < number < 2**31:  # beyond the column's range: no such version
        raise version_not_found(name, number)
    row = conn.execute(
        sa.select(model_versions, _RM.name)
        .join(registered_models, _RM.id == _MV.registered_model_id)
        .where(_RM.name == mv.model_name(name), _MV.version == number)
    ).first()
    if row is None:
        raise version_not_found(name, number)
    return row


def _touch_model(conn: sa.Connection, pk: int, now: int) -> None:
    conn.execute(sa.update(registered_models).where(_RM.id == pk).values(last_updated_time=now))


def _upsert(
    conn: sa.Connection, table: sa.Table, owner: str, pk: int, key: str, value: str
) -> None:
    stmt = dialect_insert(conn, table).values({owner: pk, "key": key, "value": value})
    conn.execute(stmt.on_conflict_do_update(index_elements=[owner, "key"], set_={"value": value}))


# -- registered models ---------------------------------------------------------------------------
def create_model(
    conn: sa.Connection, name: str, tags: Mapping[str, str] | None, description: str | None
) -> RegisteredModel:
    mv.model_name(name)
    tag_map = mv.registry_tags(tags)
    now = now_ms()
    pk = conn.execute(
        dialect_insert(conn, registered_models)
        .values(
            name=name,
            creation_time=now,
            last_updated_time=now,
            description=mv.text(description, "description"),
            last_version=0,
        )
        .on_conflict_do_nothing()
        .returning(_RM.id)
    ).scalar()
    if pk is None:
        raise AlreadyExistsError(f"Registered Model (name={name}) already exists.")
    if tag_map:
        conn.execute(
            sa.insert(registered_model_tags),
            [{"registered_model_id": pk, "key": k, "value": val} for k, val in tag_map.items()],
        )
    return load_models(conn, conn.execute(sa.select(registered_models).where(_RM.id == pk)).all())[
        0
    ]


def get_model(conn: sa.Connection, name: str) -> RegisteredModel:
    rows = conn.execute(sa.select(registered_models).where(_RM.name == mv.model_name(name))).all()
    if not rows:
        raise model_not_found(name)
    return load_models(conn, rows)[0]


def update_model(
    conn: sa.Connection, name: str, new_name: str | None, description: str | None
) -> RegisteredModel:
    pk = model_pk(conn, name)
    now = now_ms()
    values: dict[str, Any] = {"last_updated_time": now}
    if description is not None:
        values["description"] = mv.text(description, "description")
    if new_name is not None and new_name != name:
        mv.model_name(new_name, "new_name")
        taken = conn.execute(sa.select(_RM.id).where(_RM.name == new_name)).first()
        if taken is not None:
            raise AlreadyExistsError(f"Registered Model (name={new_name}) already exists.")
        values["name"] = new_name
        conn.execute(
            sa.update(model_versions)
            .where(_MV.registered_model_id == pk)
            .values(last_updated_time=now)
        )
    conn.execute(sa.update(registered_models).where(_RM.id == pk).values(**values))
    return load_models(conn, conn.execute(sa.select(registered_models).where(_RM.id == pk)).all())[
        0
    ]


def delete_model(conn: sa.Connection, name: str) -> None:
    conn.execute(sa.delete(registered_models).where(_RM.id == model_pk(conn, name)))


def set_model_tag(conn: sa.Connection, name: str, key: str, value: str) -> None:
    ((key, value),) = mv.registry_tags({key: value}).items()
    _upsert(conn, registered_model_tags, "registered_model_id", model_pk(conn, name), key, value)


def delete_model_tag(conn: sa.Connection, name: str, key: str) -> None:
    pk = model_pk(conn, name)
    t = registered_model_tags.c
    conn.execute(sa.delete(registered_model_tags).where(t.registered_model_id == pk, t.key == key))


def set_alias(conn: sa.Connection, name: str, alias: str, version: int | str) -> None:
    mv.model_name(name)
    mv.alias(alias, for_write=True)
    row = version_row(conn, name, version)
    stmt = dialect_insert(conn, registered_model_aliases).values(
        registered_model_id=row.registered_model_id, alias=alias, model_version_id=row.id
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["registered_model_id", "alias"], set_={"model_version_id": row.id}
        )
    )


def delete_alias(conn: sa.Connection, name: str, alias: str) -> None:
    mv.model_name(name)
    mv.alias(alias, for_write=False)
    pk = model_pk(conn, name)
    conn.execute(
        sa.delete(registered_model_aliases).where(
            _ALIAS.registered_model_id == pk, _ALIAS.alias == alias
        )
    )


# -- model versions ------------------------------------------------------------------------------
def _storage_location(
    conn: sa.Connection, source: str, run_id: str | None, model_id: str | None
) -> tuple[str, str | None, str | None]:
    """``(storage location, run id, model id)`` for a new version's ``source``."""

    def unresolved(error: str) -> InvalidInputError:
        return InvalidInputError(
            f"Unable to fetch model from model URI source artifact location '{source}'. "
            f"Error: {error}"
        )

    if source.startswith("models:/m-") and mv.is_model_id(source[len("models:/") :].rstrip("/")):
        found = source[len("models:/") :].rstrip("/")
        row = conn.execute(
            sa.select(logged_models.c.artifact_location, logged_models.c.source_run_id).where(
                logged_models.c.model_id == found
            )
        ).first()
        if row is None:
            raise unresolved(_logged_models.not_found(found).message)
        return row.artifact_location, run_id or row.source_run_id, model_id or found
    if source.startswith("models:/"):
        match = _MODELS_URI.match(source)
        if match is None:
            raise unresolved("expected models:/<name>/<version> or models:/<name>@<alias>")
        name, version, alias = match.group("name", "version", "alias")
        try:
            if alias is not None:
                target = conn.execute(
                    sa.select(_MV.storage_location)
                    .join(registered_model_aliases, _ALIAS.model_version_id == _MV.id)
                    .where(
                        _ALIAS.registered_model_id == model_pk(conn, name), _ALIAS.alias == alias
                    )
                ).scalar()
                if target is None:
                    raise InvalidInputError(f"Registered model alias {alias} not found.")
                return target, run_id, model_id
            row = version_row(conn, name, version)
        except (NotFoundError, InvalidInputError) as exc:
            raise unresolved(exc.message) from None
        return row.storage_location, run_id or row.run_id, model_id or row.model_id
    match = _RUNS_URI.match(source)
    if match is not None:
        found_run = match.group("run_id")
        artifact_uri = conn.execute(
            sa.select(runs.c.artifact_uri).where(runs.c.run_uuid == found_run)
        ).scalar()
        if artifact_uri is None:
            raise unresolved(f"Run with id={found_run} not found")
        path = (match.group("path") or "").strip("/")
        location = f"{artifact_uri.rstrip('/')}/{path}" if path else artifact_uri
        return location, run_id or found_run, model_id
    return source, run_id, model_id


def create_version(
    conn: sa.Connection,
    name: str,
    source: str,
    *,
    run_id: str | None,
    model_id: str | None,
    tags: Mapping[str, str] | None,
    run_link: str | None,
    description: str | None,
    user_id: str | None,
) -> ModelVersion:
    mv.model_name(name)
    tag_map = mv.registry_tags(tags)
    if not isinstance(source, str) or not source:
        raise mv.missing("source")
    run_id = mv.optional(run_id, "run_id", mv.MAX_RUN_ID_LENGTH)
    model_id = mv.optional(model_id, "model_id", mv.MAX_MODEL_ID_LENGTH)
    pk = model_pk(conn, name)
    location, run_id, resolved_model = _storage_location(conn, source, run_id or None, model_id)
    if model_id and run_id is None:
        run_id = _logged_models.get(conn, model_id).source_run_id
    now = now_ms()
    # One UPDATE both bumps the counter and locks the model row, so concurrent creators queue.
    number = conn.execute(
        sa.update(registered_models)
        .where(_RM.id == pk)
        .values(last_version=_RM.last_version + 1, last_updated_time=now)
        .returning(_RM.last_version)
    ).scalar_one()
    version_pk = conn.execute(
        sa.insert(model_versions)
        .values(
            registered_model_id=pk,
            version=number,
            creation_time=now,
            last_updated_time=now,
            description=mv.text(description, "description"),
            user_id=mv.text(user_id, "user_id", mv.MAX_USER_ID_LENGTH),
            current_stage=ModelStage.NONE,
            source=source,
            storage_location=location,
            run_id=run_id,
            run_link=mv.text(run_link, "run_link"),
            status=ModelVersionStatus.READY,
            status_message="",
            model_id=resolved_model or None,
        )
        .returning(_MV.id)
    ).scalar_one()
    if tag_map:
        conn.execute(
            sa.insert(model_version_tags),
            [
                {"model_version_id": version_pk, "key": k, "value": val}
                for k, val in tag_map.items()
            ],
        )
    return get_version(conn, name, number)


def get_version(conn: sa.Connection, name: str, version: int | str) -> ModelVersion:
    return load_versions(conn, [version_row(conn, name, version)])[0]


def update_version(
    conn: sa.Connection,
    name: str,
    version: int | str,
    description: str | None,
    stage: str | None,
    archive_existing_versions: bool,
) -> ModelVersion:
    canonical = None if stage is None else ModelStage.canonical(stage)
    if archive_existing_versions and canonical not in ModelStage.ACTIVE:
        raise InvalidInputError(
            "Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are {list(ModelStage.ACTIVE)}"
        )
    row = version_row(conn, name, version)
    now = now_ms()
    values: dict[str, Any] = {"last_updated_time": now}
    if description is not None:
        values["description"] = mv.text(description, "description")
    if canonical is not None:
        values["current_stage"] = canonical
        if archive_existing_versions:
            conn.execute(
                sa.update(model_versions)
                .where(
                    _MV.registered_model_id == row.registered_model_id,
                    _MV.id != row.id,
                    _MV.current_stage == canonical,
                )
                .values(current_stage=ModelStage.ARCHIVED, last_updated_time=now)
            )
        _touch_model(conn, row.registered_model_id, now)
    conn.execute(sa.update(model_versions).where(_MV.id == row.id).values(**values))
    return get_version(conn, name, row.version)


def delete_version(conn: sa.Connection, name: str, version: int | str) -> None:
    row = version_row(conn, name, version)
    conn.execute(sa.delete(model_versions).where(_MV.id == row.id))
    _touch_model(conn, row.registered_model_id, now_ms())


def set_version_tag(
    conn: sa.Connection, name: str, version: int | str, key: str, value: str
) -> None:
    ((key, value),) = mv.registry_tags({key: value}).items()
    row = version_row(conn, name, version)
    _upsert(conn, model_version_tags, "model_version_id", row.id, key, value)


def delete_version_tag(conn: sa.Connection, name: str, version: int | str, key: str) -> None:
    row = version_row(conn, name, version)
    t = model_version_tags.c
    conn.execute(sa.delete(model_version_tags).where(t.model_version_id == row.id, t.key == key))


def download_uri(conn: sa.Connection, name: str, version: int | str) -> str:
    row = version_row(conn, name, version)
    return str(row.storage_location or row.source)


# -- reads ---------------------------------------------------------------------------------------
def _batches(items: Sequence[int]) -> list[list[int]]:
    return [list(items[i : i + _LOAD_BATCH]) for i in range(0, len(items), _LOAD_BATCH)]


def load_versions(conn: sa.Connection, rows: Sequence[Any]) -> list[ModelVersion]:
    """Model versions for ``model_versions`` rows carrying the model's ``name``, in order."""
    tags: dict[int, dict[str, str]] = {r.id: {} for r in rows}
    aliases: dict[int, list[str]] = {r.id: [] for r in rows}
    t = model_version_tags.c
    for batch in _batches(list(tags)):
        for pk, key, value in conn.execute(
            sa.select(t.model_version_id, t.key, t.value).where(t.model_version_id.in_(batch))
        ):
            tags[pk][key] = value
        for pk, alias in conn.execute(
            sa.select(_ALIAS.model_version_id, _ALIAS.alias)
            .where(_ALIAS.model_version_id.in_(batch))
            .order_by(_ALIAS.alias)
        ):
            aliases[pk].append(alias)
    return [
        ModelVersion(
            name=r.name,
            version=r.version,
            creation_timestamp=r.creation_time,
            last_updated_timestamp=r.last_updated_time,
            source=r.source,
            current_stage=r.current_stage,
            description=r.description,
            user_id=r.user_id,
            run_id=r.run_id,
            run_link=r.run_link,
            status=r.status,
            status_message=r.status_message,
            model_id=r.model_id,
            tags=dict(sorted(tags[r.id].items())),
            aliases=aliases[r.id],
        )
        for r in rows
    ]


def load_models(conn: sa.Connection, rows: Sequence[Any]) -> list[RegisteredModel]:
    """Registered models for ``registered_models`` rows, in order, with tags, aliases and the
    latest version of each stage."""
    parts: dict[int, dict[str, Any]] = {
        r.id: {"tags": {}, "aliases": {}, "latest": []} for r in rows
    }
    t = registered_model_tags.c
    stage_rank = {stage: i for i, stage in enumerate(ModelStage.ALL)}
    for batch in _batches(list(parts)):
        for pk, key, value in conn.execute(
            sa.select(t.registered_model_id, t.key, t.value).where(t.registered_model_id.in_(batch))
        ):
            parts[pk]["tags"][key] = value
        for pk, alias, number in conn.execute(
            sa.select(_ALIAS.registered_model_id, _ALIAS.alias, _MV.version)
            .join(model_versions, _MV.id == _ALIAS.model_version_id)
            .where(_ALIAS.registered_model_id.in_(batch))
            .order_by(_ALIAS.alias)
        ):
            parts[pk]["aliases"][alias] = number
        newest = (
            sa.select(
                _MV.registered_model_id,
                _MV.current_stage,
                sa.func.max(_MV.version).label("version"),
            )
            .where(_MV.registered_model_id.in_(batch))
            .group_by(_MV.registered_model_id, _MV.current_stage)
            .subquery()
        )
        latest_rows = conn.execute(
            sa.select(model_versions, _RM.name)
            .join(registered_models, _RM.id == _MV.registered_model_id)
            .join(
                newest,
                sa.and_(
                    newest.c.registered_model_id == _MV.registered_model_id,
                    newest.c.version == _MV.version,
                ),
            )
        ).all()
        for version in sorted(
            zip(latest_rows, load_versions(conn, latest_rows), strict=True),
            key=lambda pair: stage_rank.get(pair[0].current_stage, len(stage_rank)),
        ):
            parts[version[0].registered_model_id]["latest"].append(version[1])
    return [
        RegisteredModel(
            name=r.name,
            creation_timestamp=r.creation_time,
            last_updated_timestamp=r.last_updated_time,
            description=r.description,
            tags=dict(sorted(parts[r.id]["tags"].items())),
            aliases=parts[r.id]["aliases"],
            latest_versions=parts[r.id]["latest"],
        )
        for r in rows
    ]
