"""Models as snapshots: MLflow 3 logged models, and registered models with their versions.

Like ``runbase.entities``, these are frozen and never live database rows. Field names follow
MLflow's entities and REST messages, so a server maps them onto the wire one to one; the few
differences are noted on the field (a version number is an ``int`` here and a string on the wire).
"""

from __future__ import annotations

from typing import Final

import msgspec

from runbase.errors import InvalidInputError

__all__ = [
    "LoggedModel",
    "LoggedModelInput",
    "LoggedModelMetric",
    "LoggedModelOutput",
    "LoggedModelStatus",
    "ModelStage",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "RunModels",
]


class LoggedModelStatus:
    """A logged model is PENDING while its files upload, then READY or UPLOAD_FAILED."""

    PENDING: Final = "LOGGED_MODEL_PENDING"
    READY: Final = "LOGGED_MODEL_READY"
    UPLOAD_FAILED: Final = "LOGGED_MODEL_UPLOAD_FAILED"
    ALL: Final = frozenset({PENDING, READY, UPLOAD_FAILED})


class ModelStage:
    """The (deprecated in MLflow, still served) stages of a model version."""

    NONE: Final = "None"
    STAGING: Final = "Staging"
    PRODUCTION: Final = "Production"
    ARCHIVED: Final = "Archived"
    ALL: Final = (NONE, STAGING, PRODUCTION, ARCHIVED)
    #: The stages ``archive_existing_versions`` may be used with.
    ACTIVE: Final = (STAGING, PRODUCTION)

    @classmethod
    def canonical(cls, stage: str) -> str:
        """The stage's canonical spelling (stages are case-insensitive), as MLflow checks it."""
        for known in cls.ALL:
            if isinstance(stage, str) and stage.lower() == known.lower():
                return known
        raise InvalidInputError(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(cls.ALL)}."
        )


class ModelVersionStatus:
    READY: Final = "READY"
    PENDING_REGISTRATION: Final = "PENDING_REGISTRATION"
    FAILED_REGISTRATION: Final = "FAILED_REGISTRATION"


class LoggedModelMetric(msgspec.Struct, frozen=True):
    """A metric of a logged model (an evaluation result), optionally tied to a run and dataset."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LoggedModel(msgspec.Struct, frozen=True):
    """An MLflow 3 logged model: files under ``artifact_location`` plus metadata.

    ``model_id`` is ``m-`` and 32 hex digits. MLflow's JSON calls ``artifact_location``
    ``artifact_uri`` and nests the fields as ``info`` (all but params and metrics) and ``data``.
    ``metrics`` is every logged point, oldest step first.
    """

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    status: str
    status_message: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    params: dict[str, str] = msgspec.field(default_factory=dict)
    metrics: list[LoggedModelMetric] = msgspec.field(default_factory=list)


class LoggedModelOutput(msgspec.Struct, frozen=True):
    """A model a run produced (``runs/outputs``), at a training step."""

    model_id: str
    step: int = 0


class LoggedModelInput(msgspec.Struct, frozen=True):
    """A model a run used (the ``models`` of ``runs/log-inputs``)."""

    model_id: str


class RunModels(msgspec.Struct, frozen=True):
    """A run's model inputs and outputs: MLflow's ``run.inputs.model_inputs`` and
    ``run.outputs.model_outputs``."""

    inputs: list[LoggedModelInput] = msgspec.field(default_factory=list)
    outputs: list[LoggedModelOutput] = msgspec.field(default_factory=list)


class ModelVersion(msgspec.Struct, frozen=True):
    """One numbered version of a registered model. ``version`` is an int (a string on the wire);
    ``aliases`` are the registered model's aliases that point at this version."""

    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    source: str
    current_stage: str = ModelStage.NONE
    description: str = ""
    user_id: str = ""
    run_id: str | None = None
    run_link: str = ""
    status: str = ModelVersionStatus.READY
    status_message: str = ""
    model_id: str | None = None
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    aliases: list[str] = msgspec.field(default_factory=list)


class RegisteredModel(msgspec.Struct, frozen=True):
    """A named model in the registry.

    ``aliases`` maps each alias to a version number. ``latest_versions`` holds, for each stage
    that has versions, the highest-numbered one (MLflow's definition), in stage order.
    """

    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str = ""
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    aliases: dict[str, int] = msgspec.field(default_factory=dict)
    latest_versions: list[ModelVersion] = msgspec.field(default_factory=list)
