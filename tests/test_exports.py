"""The public surface of ``runbase`` is pinned: changing it is a decision, not an accident."""

from __future__ import annotations

import pytest

import runbase

PUBLIC = {
    "ActiveRun", "AlreadyExistsError", "Client", "Dataset", "DatasetInput", "Experiment",
    "InvalidInputError", "Metric", "MetricSummary", "NotFoundError", "Param", "Run", "RunInfo",
    "RunStatus", "RunTag", "RunbaseError", "ViewType", "active_run", "create_experiment",
    "delete_run", "delete_tag", "end_run", "get_artifact_uri", "get_experiment",
    "get_experiment_by_name", "get_run", "get_tracking_uri", "last_active_run_id", "log_artifact",
    "log_artifacts", "log_classification_report", "log_dict", "log_figure", "log_image",
    "log_input", "log_metric", "log_metrics", "log_param", "log_params", "log_text", "report",
    "search_runs", "set_experiment", "set_tag", "set_tags", "set_tracking_uri", "should_prune",
    "start_run",
}  # fmt: skip


def test_all_is_pinned() -> None:
    assert set(runbase.__all__) == PUBLIC
    assert len(runbase.__all__) == len(PUBLIC)


def test_every_public_name_resolves() -> None:
    for name in runbase.__all__:
        assert getattr(runbase, name) is not None, name
    assert set(runbase.__all__) <= set(dir(runbase))


def test_submodules_are_attributes() -> None:
    assert callable(runbase.data.dataset)
    assert runbase.errors.NotFoundError is runbase.NotFoundError
    assert callable(runbase.sweeps.run)
    assert runbase.evaluation.log_classification_report is runbase.log_classification_report


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_verb"):
        runbase.no_such_verb  # type: ignore[attr-defined]  # noqa: B018
