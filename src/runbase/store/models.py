"""The model store contract: MLflow 3 logged models and the model registry.

A backend implements the abstract primitives; the rest is built on them here. Each primitive maps
onto one MLflow REST call (named in its docstring), so a server is a thin translation layer.

Contract
--------
* **Thread safety.** A model store may be shared by threads, like the tracking store it sits next
  to (a SQL model store shares the tracking store's connections).
* **Snapshots.** Reads return frozen entities from ``runbase.model_entities``.
* **Atomic writes.** Each primitive is one transaction: a version number, its tags and the
  registered model's update time appear together or not at all.
* **Errors.** Unknown names, versions and ids raise :class:`~runbase.errors.NotFoundError` with
  MLflow's message (``Registered Model with name=x not found``, ``Model Version (name=x,
  version=3) not found``, ``Logged model with ID 'm-…' not found.``); a taken registered model
  name raises :class:`~runbase.errors.AlreadyExistsError` (``Registered Model (name=x) already
  exists.``); bad input raises :class:`~runbase.errors.InvalidInputError`. Registry tags allow
  keys of 250 and values of 100000 characters; aliases match ``^[\\w\\-]*$``, are at most 255
  characters, and ``latest`` and ``v<N>`` are reserved.
* **Versions** are numbered 1, 2, … per registered model, and a number is never reused, even
  after its version is deleted. Deleting a version drops the aliases pointing at it; deleting a
  registered model drops its versions, tags and aliases.
* **Logged models** live under ``<experiment artifact_location>/models/<model_id>/artifacts``.
  Deleting one removes it with its tags, params, metrics and run links; deleting an experiment
  row removes its logged models.
* **Searches** speak MLflow's filter syntax (``runbase.store.filters``) over the vocabularies
  below, page with opaque tokens valid only for the same query, and leave out prompts (models
  tagged ``mlflow.prompt.is_prompt = 'true'``) unless the filter asks for them, as MLflow does.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Generic, NamedTuple, TypeVar

from runbase.errors import InvalidInputError, NotFoundError
from runbase.model_entities import (
    LoggedModel,
    LoggedModelInput,
    LoggedModelMetric,
    LoggedModelOutput,
    ModelStage,
    ModelVersion,
    RegisteredModel,
    RunModels,
)
from runbase.store import _model_validation as mv
from runbase.store.filters import Grammar

__all__ = [
    "LOGGED_MODEL_GRAMMAR",
    "MODEL_VERSION_GRAMMAR",
    "REGISTERED_MODEL_GRAMMAR",
    "LoggedModelOrder",
    "ModelStore",
    "Page",
    "logged_model_order_clause",
]

T = TypeVar("T")

PROMPT_TAG = "mlflow.prompt.is_prompt"

_TIMESTAMPS = {
    "creation_timestamp": "creation_timestamp",
    "creation_time": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
    "last_updated_time": "last_updated_timestamp",
}

#: ``search_logged_models``: attributes name, model_id, model_type, status, source_run_id and the
#: two timestamps; ``metrics.<key>`` (its latest value), ``params.<key>``, ``tags.<key>``.
LOGGED_MODEL_GRAMMAR: Grammar = Grammar(
    entities=frozenset(("metric", "param", "tag", "attribute")),
    attributes={
        **{k: k for k in ("name", "model_id", "model_type", "status", "source_run_id")},
        **_TIMESTAMPS,
    },
    numeric=frozenset(("creation_timestamp", "last_updated_timestamp")),
    order_entities=frozenset(("metric", "attribute")),
    order_attributes={
        **{k: k for k in ("name", "model_id", "model_type", "status", "source_run_id")},
        **_TIMESTAMPS,
    },
    list_attributes=frozenset(("name", "model_id", "model_type", "status", "source_run_id")),
    key_value_ops=("=", "!=", "LIKE", "ILIKE"),
)

#: ``search_registered_models``: ``name`` (``= != LIKE ILIKE IN NOT IN``) and ``tags.<key>``;
#: order by name, creation_timestamp, last_updated_timestamp (``timestamp`` is an alias).
REGISTERED_MODEL_GRAMMAR: Grammar = Grammar(
    entities=frozenset(("tag", "attribute")),
    attributes={"name": "name"},
    numeric=frozenset(),
    order_entities=frozenset(("attribute",)),
    order_attributes={"name": "name", "timestamp": "last_updated_timestamp", **_TIMESTAMPS},
    list_attributes=frozenset(("name",)),
    key_value_ops=("=", "!=", "LIKE", "ILIKE"),
)

#: ``search_model_versions``: ``name`` and ``run_id`` (with IN), ``source_path``,
#: ``version_number`` (numeric) and ``tags.<key>``.
MODEL_VERSION_GRAMMAR: Grammar = Grammar(
    entities=frozenset(("tag", "attribute")),
    attributes={k: k for k in ("name", "run_id", "source_path", "version_number")},
    numeric=frozenset(("version_number",)),
    order_entities=frozenset(("attribute",)),
    order_attributes={"name": "name", "version_number": "version_number", **_TIMESTAMPS},
    list_attributes=frozenset(("name", "run_id")),
    key_value_ops=("=", "!=", "LIKE", "ILIKE"),
)


class Page(NamedTuple, Generic[T]):
    """One page of a search; ``next_page_token`` is None on the last page."""

    items: list[T]
    next_page_token: str | None


class LoggedModelOrder(NamedTuple):
    """MLflow's structured logged-model ``order_by`` item. A ``metrics.<key>`` field orders by the
    key's latest value among the metrics logged on ``dataset_name`` (and ``dataset_digest``) when
    they are given, else among all of them; the search's ``datasets`` do not apply to it."""

    field_name: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


def logged_model_order_clause(field_name: str, ascending: bool = True) -> str:
    """MLflow's structured logged-model ``order_by`` item (``{field_name, ascending}``) as a
    clause for :meth:`ModelStore.search_logged_models`."""
    direction = "ASC" if ascending else "DESC"
    if "." in field_name:
        entity, key = field_name.split(".", 1)
        return f"{entity}.`{key.replace('`', '``')}` {direction}"
    return f"{field_name} {direction}"


class ModelStore(abc.ABC):
    """Abstract model store. See the module docstring for the contract."""

    # -- logged models -----------------------------------------------------------------------
    @abc.abstractmethod
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
        """``POST logged-models``: a PENDING model in an active experiment; a missing name is
        generated."""

    @abc.abstractmethod
    def get_logged_model(self, model_id: str) -> LoggedModel:
        """``GET logged-models/{id}``."""

    @abc.abstractmethod
    def update_logged_model(
        self, model_id: str, *, status: str, status_message: str | None = None
    ) -> LoggedModel:
        """``PATCH logged-models/{id}``: set the status (one of :class:`LoggedModelStatus`)."""

    @abc.abstractmethod
    def delete_logged_model(self, model_id: str) -> None:
        """``DELETE logged-models/{id}``."""

    @abc.abstractmethod
    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        """``PATCH logged-models/{id}/tags``: upsert tags."""

    @abc.abstractmethod
    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """``DELETE logged-models/{id}/tags/{key}``; an unknown key is NotFoundError."""

    @abc.abstractmethod
    def log_logged_model_params(self, model_id: str, params: Mapping[str, str]) -> None:
        """``POST logged-models/{id}/params``. Re-logging a value is a no-op; changing one is an
        InvalidInputError, as for run params."""

    @abc.abstractmethod
    def log_logged_model_metrics(self, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """Metrics of a model (``log-batch`` items carrying a ``model_id``)."""

    @abc.abstractmethod
    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        order_by: Sequence[str | LoggedModelOrder] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
        datasets: Sequence[tuple[str, str | None]] | None = None,
    ) -> Page[LoggedModel]:
        """``POST logged-models/search``: see :data:`LOGGED_MODEL_GRAMMAR`. The default order
        is ``creation_timestamp DESC``; ties break on ``model_id``. ``order_by`` takes clauses
        (``"metrics.acc DESC"``) or MLflow's structured items as :class:`LoggedModelOrder`.
        ``datasets`` (``(name, digest or None)`` pairs) restricts metric clauses, and the metric
        order of plain clauses, to metrics on those datasets and, without metric clauses, keeps
        only models with a metric on one of them."""

    # -- run ↔ model links -------------------------------------------------------------------
    @abc.abstractmethod
    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        """``POST runs/outputs``: the run (active) produced these models. Re-logging a model
        updates its step."""

    @abc.abstractmethod
    def log_model_inputs(self, run_id: str, models: Sequence[LoggedModelInput]) -> None:
        """The ``models`` of ``POST runs/log-inputs``: the run (active) used these models."""

    @abc.abstractmethod
    def get_run_models(self, run_ids: Sequence[str]) -> dict[str, RunModels]:
        """Model inputs and outputs of several runs at once (for ``runs/get`` and
        ``runs/search``); every id is in the result, unknown ones with nothing."""

    # -- registered models -------------------------------------------------------------------
    @abc.abstractmethod
    def create_registered_model(
        self,
        name: str,
        *,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredModel:
        """``POST registered-models/create``."""

    @abc.abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """``GET registered-models/get``, with aliases and latest versions."""

    @abc.abstractmethod
    def update_registered_model(
        self, name: str, *, new_name: str | None = None, description: str | None = None
    ) -> RegisteredModel:
        """``POST registered-models/rename`` (``new_name``) and ``PATCH registered-models/update``
        (``description``); the versions follow a rename."""

    @abc.abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """``DELETE registered-models/delete``: the model with its versions, tags, aliases."""

    @abc.abstractmethod
    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        """``GET registered-models/search``: see :data:`REGISTERED_MODEL_GRAMMAR`; at most 1000
        per page, ordered by name unless told otherwise."""

    @abc.abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """``POST registered-models/set-tag``."""

    @abc.abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """``DELETE registered-models/delete-tag``; an absent key is a no-op (as in MLflow)."""

    @abc.abstractmethod
    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """``POST registered-models/alias``: point the alias at an existing version."""

    @abc.abstractmethod
    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """``DELETE registered-models/alias``; an absent alias is a no-op (as in MLflow)."""

    # -- model versions ----------------------------------------------------------------------
    @abc.abstractmethod
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
        """``POST model-versions/create``: the next version number, status READY.

        ``source`` is resolved once, now, to where the files are: ``models:/m-<id>`` to the
        logged model's artifact location (and ``run_id`` defaults to its source run),
        ``models:/<name>/<version>`` to that version's location, ``runs:/<run_id>/<path>`` to
        the run's artifact URI plus the path; anything else is taken as a location as is.
        """

    @abc.abstractmethod
    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """``GET model-versions/get``."""

    @abc.abstractmethod
    def update_model_version(
        self,
        name: str,
        version: int | str,
        *,
        description: str | None = None,
        stage: str | None = None,
        archive_existing_versions: bool = False,
    ) -> ModelVersion:
        """``PATCH model-versions/update`` (``description``) and
        ``POST model-versions/transition-stage`` (``stage``; with
        ``archive_existing_versions``, other versions in that stage become Archived, which
        only Staging and Production allow)."""

    @abc.abstractmethod
    def delete_model_version(self, name: str, version: int | str) -> None:
        """``DELETE model-versions/delete``: also drops aliases pointing at it."""

    @abc.abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        """``GET model-versions/search``: see :data:`MODEL_VERSION_GRAMMAR`; at most 200000 per
        page. The default order is ``last_updated_timestamp DESC, name ASC, version_number
        DESC``."""

    @abc.abstractmethod
    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """``POST model-versions/set-tag``."""

    @abc.abstractmethod
    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """``DELETE model-versions/delete-tag``; an absent key is a no-op (as in MLflow)."""

    @abc.abstractmethod
    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """``GET model-versions/get-download-uri``: where the version's files are."""

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources the model store owns (a SQL one shares its tracking store's)."""

    # -- helpers built on the primitives -----------------------------------------------------
    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        """MLflow's name for setting a logged model's final status."""
        return self.update_logged_model(model_id, status=status)

    def get_run_outputs(self, run_id: str) -> list[LoggedModelOutput]:
        return self.get_run_models([run_id])[run_id].outputs

    def get_run_model_inputs(self, run_id: str) -> list[LoggedModelInput]:
        return self.get_run_models([run_id])[run_id].inputs

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        if new_name is None or not str(new_name).strip():
            raise mv.missing("new_name")
        return self.update_registered_model(name, new_name=new_name)

    def update_registered_model_description(self, name: str, description: str) -> RegisteredModel:
        return self.update_registered_model(name, description=description or "")

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """``POST registered-models/get-latest-versions``: the highest version in each of the
        stages (all stages when none are given)."""
        wanted = {ModelStage.canonical(s) for s in stages} if stages else set(ModelStage.ALL)
        latest = self.get_registered_model(name).latest_versions
        return [version for version in latest if version.current_stage in wanted]

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """``GET registered-models/alias``. ``latest`` means the highest version number."""
        mv.alias(alias, for_write=False)
        model = self.get_registered_model(name)
        if alias.lower() == mv.LATEST_ALIAS:
            if not model.latest_versions:
                raise NotFoundError(f"Latest version not found for model {name}.")
            return max(model.latest_versions, key=lambda v: v.version)
        if alias not in model.aliases:
            raise InvalidInputError(f"Registered model alias {alias} not found.")
        return self.get_model_version(name, model.aliases[alias])

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        return self.update_model_version(
            name, version, stage=stage, archive_existing_versions=archive_existing_versions
        )

    def update_model_version_description(
        self, name: str, version: int | str, description: str
    ) -> ModelVersion:
        return self.update_model_version(name, version, description=description or "")
