"""runbase entities as MLflow's REST API writes them (``run``, ``experiment``, ``metric``, logged
models, registered models and model versions).

Field names are MLflow's proto names; unset optional fields are left out, as MLflow's proto JSON
does, and doubles go through :func:`~runbase.server._wire.double` so NaN and ±inf survive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbase.entities import DatasetInput, Experiment, Run, RunInfo
from runbase.model_entities import (
    LoggedModel,
    LoggedModelMetric,
    ModelVersion,
    RegisteredModel,
    RunModels,
)
from runbase.server._wire import double

__all__ = [
    "experiment_json",
    "key_values",
    "logged_model_json",
    "model_version_json",
    "registered_model_json",
    "run_info_json",
    "run_json",
    "series_json",
]


def key_values(items: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in items.items()]


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
        "creation_time": experiment.creation_time,
        "last_update_time": experiment.last_update_time,
    }
    if experiment.tags:
        out["tags"] = key_values(experiment.tags)
    return out


def run_info_json(info: RunInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_uuid": info.run_id,
        "run_id": info.run_id,
        "experiment_id": info.experiment_id,
        "run_name": info.run_name,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage,
    }
    if info.end_time is not None:
        out["end_time"] = info.end_time
    return out


def _dataset_input_json(item: DatasetInput) -> dict[str, Any]:
    ds = item.dataset
    dataset: dict[str, Any] = {
        "name": ds.name,
        "digest": ds.digest,
        "source_type": ds.source_type,
        "source": ds.source,
    }
    if ds.schema:
        dataset["schema"] = ds.schema
    if ds.profile:
        dataset["profile"] = ds.profile
    return {"tags": key_values(item.tags), "dataset": dataset}


def run_json(run: Run, models: RunModels | None = None) -> dict[str, Any]:
    """A whole run; ``data.metrics`` holds the latest point of each metric, ``inputs`` and
    ``outputs`` the run's datasets and its ``models`` (logged-model inputs and outputs)."""
    metrics = [
        {
            "key": s.key,
            "value": double(s.last),
            "timestamp": s.last_timestamp,
            "step": s.last_step,
        }
        for s in run.data.summaries.values()
    ]
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    if run.inputs.dataset_inputs:
        inputs["dataset_inputs"] = [_dataset_input_json(i) for i in run.inputs.dataset_inputs]
    if models is not None and models.inputs:
        inputs["model_inputs"] = [{"model_id": m.model_id} for m in models.inputs]
    if models is not None and models.outputs:
        outputs["model_outputs"] = [
            {"model_id": m.model_id, "step": m.step} for m in models.outputs
        ]
    return {
        "info": run_info_json(run.info),
        "data": {
            "metrics": metrics,
            "params": key_values(run.data.params),
            "tags": key_values(run.data.tags),
        },
        "inputs": inputs,
        "outputs": outputs,
    }


def series_json(
    key: str, steps: list[int], timestamps: list[int], values: list[float]
) -> list[dict[str, Any]]:
    """Metric points as MLflow's ``metrics`` list."""
    return [
        {"key": key, "value": double(v), "timestamp": t, "step": s}
        for s, t, v in zip(steps, timestamps, values, strict=True)
    ]


# -- models --------------------------------------------------------------------------------------
def _model_metric_json(model_id: str, metric: LoggedModelMetric) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": metric.key,
        "value": double(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
        "model_id": model_id,
    }
    for name in ("run_id", "dataset_name", "dataset_digest"):
        value = getattr(metric, name)
        if value:
            out[name] = value
    return out


def logged_model_json(model: LoggedModel) -> dict[str, Any]:
    """A logged model as ``{"info": {...}, "data": {"params", "metrics"}}``."""
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp_ms,
        "last_updated_timestamp_ms": model.last_updated_timestamp_ms,
        "artifact_uri": model.artifact_location,
        "status": model.status,
        "model_type": model.model_type or "",
    }
    if model.source_run_id:
        info["source_run_id"] = model.source_run_id
    if model.status_message:
        info["status_message"] = model.status_message
    if model.tags:
        info["tags"] = key_values(model.tags)
    data: dict[str, Any] = {}
    if model.params:
        data["params"] = key_values(model.params)
    if model.metrics:
        data["metrics"] = [_model_metric_json(model.model_id, m) for m in model.metrics]
    return {"info": info, "data": data}


def model_version_json(version: ModelVersion) -> dict[str, Any]:
    """A model version; its number is a string, as in MLflow's proto."""
    out: dict[str, Any] = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
        "current_stage": version.current_stage,
        "description": version.description,
        "source": version.source,
        "status": version.status,
        "run_link": version.run_link,
    }
    if version.user_id:
        out["user_id"] = version.user_id
    if version.run_id:
        out["run_id"] = version.run_id
    if version.status_message:
        out["status_message"] = version.status_message
    if version.model_id:
        out["model_id"] = version.model_id
    if version.tags:
        out["tags"] = key_values(version.tags)
    if version.aliases:
        out["aliases"] = list(version.aliases)
    return out


def registered_model_json(model: RegisteredModel) -> dict[str, Any]:
    """A registered model with its tags, aliases (``{"alias", "version"}``) and the latest
    version of each stage."""
    out: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }
    if model.description:
        out["description"] = model.description
    if model.latest_versions:
        out["latest_versions"] = [model_version_json(v) for v in model.latest_versions]
    if model.tags:
        out["tags"] = key_values(model.tags)
    if model.aliases:
        out["aliases"] = [
            {"alias": alias, "version": str(number)} for alias, number in model.aliases.items()
        ]
    return out
