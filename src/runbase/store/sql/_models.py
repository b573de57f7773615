"""The SQL model store: logged models and the registry, on the tracking store's database.

``SqlStore.models`` gives the one that shares an open tracking store's engines;
:meth:`SqlModelStore.open` opens one on its own from a database URI. Each primitive is one
transaction; the SQL lives in ``_logged_models``, ``_registry`` and ``_model_search``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from runbase import _validation as v
from runbase.errors import StoreError
from runbase.model_entities import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelMetric,
    LoggedModelOutput,
    ModelVersion,
    RegisteredModel,
    RunModels,
)
from runbase.store import _model_validation as mv
from runbase.store.models import LoggedModelOrder, ModelStore, Page
from runbase.store.sql import _logged_models, _model_search, _registry
from runbase.store.sql._engine import create_engines, dispose_engines, ensure_schema


class SqlModelStore(ModelStore):
    """A :class:`~runbase.store.models.ModelStore` on a SQL database (see the module docstring)."""

    def __init__(
        self, write_engine: Engine, read_engine: Engine, *, owns_engines: bool = False
    ) -> None:
        self._write_engine = write_engine
        self._read_engine = read_engine
        self._owns_engines = owns_engines

    @classmethod
    def open(cls, uri: str) -> SqlModelStore:
        """A model store with its own connections to the database ``uri`` names (a
        ``sqlite:///`` or ``postgresql://`` URL), creating or upgrading the schema like
        ``SqlStore`` does."""
        write_engine, read_engine = create_engines(uri)
        store = cls(write_engine, read_engine, owns_engines=True)
        try:
            with store._errors():
                ensure_schema(write_engine, auto_upgrade=write_engine.dialect.name == "sqlite")
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        if self._owns_engines:
            dispose_engines(self._write_engine, self._read_engine)

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            url = self._write_engine.url.render_as_string(hide_password=True)
            raise StoreError(f"Database error in {url}: {exc.orig}") from exc

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._errors(), self._write_engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._errors(), self._read_engine.begin() as conn:
            yield conn

    # -- logged models -----------------------------------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        source_run_id: str | None = None,
        model_type: str | None = None,
        tags: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        with self._write() as conn:
            return _logged_models.create(
                conn,
                experiment_id,
                name=name,
                source_run_id=source_run_id,
                model_type=model_type,
                tags=tags,
                params=params,
            )

    def get_logged_model(self, model_id: str) -> LoggedModel:
        with self._read() as conn:
            return _logged_models.get(conn, model_id)

    def update_logged_model(
        self, model_id: str, *, status: str, status_message: str | None = None
    ) -> LoggedModel:
        with self._write() as conn:
            return _logged_models.update_status(conn, model_id, status, status_message)

    def delete_logged_model(self, model_id: str) -> None:
        with self._write() as conn:
            _logged_models.delete(conn, model_id)

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        with self._write() as conn:
            _logged_models.set_tags(conn, model_id, tags)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        with self._write() as conn:
            _logged_models.delete_tag(conn, model_id, key)

    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        with self._write() as conn:
            _logged_models.log_params(conn, model_id, params)

    def log_logged_model_metrics(self, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        with self._write() as conn:
            _logged_models.log_metrics(conn, model_id, metrics)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str | LoggedModelOrder] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        datasets: Sequence[tuple[str, str | None]] | None = None,
    ) -> Page[LoggedModel]:
        mv.max_results(max_results, v.MAX_RESULTS_LIMIT)
        exp_pks = [_logged_models.experiment_pk(e) for e in experiment_ids]
        query = _model_search.logged_model_query(
            exp_pks, filter_string, order_by, list(datasets or []), page_token
        )
        with self._read() as conn:
            rows = query.rows(conn, max_results) if exp_pks else []
            page = _logged_models.load_rows(conn, rows[:max_results])
        token = query.next_token(max_results) if len(rows) > max_results else None
        return Page(page, token)

    # -- run ↔ model links -------------------------------------------------------------------
    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        with self._write() as conn:
            _logged_models.log_outputs(conn, run_id, models)

    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        with self._write() as conn:
            _logged_models.log_inputs(conn, run_id, models)

    def get_run_models(self, run_ids: Sequence[str]) -> dict[str, RunModels]:
        with self._read() as conn:
            return _logged_models.run_models(conn, run_ids)

    # -- registered models -------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        with self._write() as conn:
            return _registry.create_model(conn, name, tags, description)

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            return _registry.get_model(conn, name)

    def update_registered_model(
        self, name: str, *, new_name: str | None = None, description: str | None = None
    ) -> RegisteredModel:
        with self._write() as conn:
            return _registry.update_model(conn, name, new_name, description)

    def delete_registered_model(self, name: str) -> None:
        with self._write() as conn:
            _registry.delete_model(conn, name)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        mv.max_results(max_results, mv.MAX_REGISTERED_MODELS_RESULTS)
        query = _model_search.registered_model_query(filter_string, order_by, page_token)
        with self._read() as conn:
            rows = query.rows(conn, max_results)
            page = _registry.load_models(conn, rows[:max_results])
        token = query.next_token(max_results) if len(rows) > max_results else None
        return Page(page, token)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        with self._write() as conn:
            _registry.set_model_tag(conn, name, key, value)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self._write() as conn:
            _registry.delete_model_tag(conn, name, key)

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        with self._write() as conn:
            _registry.set_alias(conn, name, alias, version)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        with self._write() as conn:
            _registry.delete_alias(conn, name, alias)

    # -- model versions ----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        model_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        with self._write() as conn:
            return _registry.create_version(
                conn,
                name,
                source,
                run_id=run_id,
                model_id=model_id,
                tags=tags,
                run_link=run_link,
                description=description,
                user_id=user_id,
            )

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        with self._read() as conn:
            return _registry.get_version(conn, name, version)

    def update_model_version(
        self,
        name: str,
        version: int | str,
        *,
        description: str | None = None,
        stage: str | None = None,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        with self._write() as conn:
            return _registry.update_version(
                conn, name, version, description, stage, archive_existing_versions
            )

    def delete_model_version(self, name: str, version: int | str) -> None:
        with self._write() as conn:
            _registry.delete_version(conn, name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        mv.max_results(max_results, mv.MAX_MODEL_VERSIONS_RESULTS)
        query = _model_search.model_version_query(filter_string, order_by, page_token)
        with self._read() as conn:
            rows = query.rows(conn, max_results)
            page = _registry.load_versions(conn, rows[:max_results])
        token = query.next_token(max_results) if len(rows) > max_results else None
        return Page(page, token)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        with self._write() as conn:
            _registry.set_version_tag(conn, name, version, key, value)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        with self._write() as conn:
            _registry.delete_version_tag(conn, name, version, key)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        with self._read() as conn:
            return _registry.download_uri(conn, name, version)
