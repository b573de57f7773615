"""runbase: a fast, local-first experiment tracker and sweep engine, wire-compatible with MLflow.

The verbs carry MLflow's names and arguments, so ``import runbase as mlflow`` works for them::

    import runbase

    with runbase.start_run(run_name="baseline"):
        runbase.log_params({"lr": 1e-3, "model": {"depth": 4}})
        for epoch in range(10):
            runbase.log_metric("val_loss", 0.1 * epoch, step=epoch)

Names are re-exported lazily, so ``import runbase`` stays cheap and a training script pays for the
store only when it first logs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "runbase._fluent": (
        "ActiveRun",
        "active_run",
        "create_experiment",
        "delete_run",
        "delete_tag",
        "end_run",
        "get_artifact_uri",
        "get_experiment",
        "get_experiment_by_name",
        "get_run",
        "get_tracking_uri",
        "last_active_run_id",
        "log_artifact",
        "log_artifacts",
        "log_dict",
        "log_figure",
        "log_image",
        "log_input",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "log_text",
        "search_runs",
        "set_experiment",
        "set_tag",
        "set_tags",
        "set_tracking_uri",
        "start_run",
    ),
    "runbase.sweeps.report": ("report", "should_prune"),
    "runbase.evaluation": ("log_classification_report",),
    "runbase.client": ("Client",),
    "runbase.entities": (
        "Dataset",
        "DatasetInput",
        "Experiment",
        "Metric",
        "MetricSummary",
        "Param",
        "Run",
        "RunInfo",
        "RunStatus",
        "RunTag",
        "ViewType",
    ),
    "runbase.errors": ("AlreadyExistsError", "InvalidInputError", "NotFoundError", "RunbaseError"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
# Public submodules, reachable as attributes (runbase.data.dataset(...)) without an import.
_SUBMODULES = ("artifacts", "data", "entities", "errors", "evaluation", "sweeps")

__all__ = [
    "ActiveRun",
    "AlreadyExistsError",
    "Client",
    "Dataset",
    "DatasetInput",
    "Experiment",
    "InvalidInputError",
    "Metric",
    "MetricSummary",
    "NotFoundError",
    "Param",
    "Run",
    "RunInfo",
    "RunStatus",
    "RunTag",
    "RunbaseError",
    "ViewType",
    "active_run",
    "create_experiment",
    "delete_run",
    "delete_tag",
    "end_run",
    "get_artifact_uri",
    "get_experiment",
    "get_experiment_by_name",
    "get_run",
    "get_tracking_uri",
    "last_active_run_id",
    "log_artifact",
    "log_artifacts",
    "log_classification_report",
    "log_dict",
    "log_figure",
    "log_image",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "report",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "should_prune",
    "start_run",
]

if TYPE_CHECKING:
    from runbase._fluent import (
        ActiveRun,
        active_run,
        create_experiment,
        delete_run,
        delete_tag,
        end_run,
        get_artifact_uri,
        get_experiment,
        get_experiment_by_name,
        get_run,
        get_tracking_uri,
        last_active_run_id,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_image,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
    from runbase.client import Client
    from runbase.entities import (
        Dataset,
        DatasetInput,
        Experiment,
        Metric,
        MetricSummary,
        Param,
        Run,
        RunInfo,
        RunStatus,
        RunTag,
        ViewType,
    )
    from runbase.errors import AlreadyExistsError, InvalidInputError, NotFoundError, RunbaseError
    from runbase.evaluation import log_classification_report
    from runbase.sweeps.report import report, should_prune


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"runbase.{name}")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'runbase' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
