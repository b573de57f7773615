"""Copy experiments and runs from an MLflow source into a runbase store.

Each imported run keeps its name, user, times, status, params, tags, every metric point, its
dataset inputs and its artifacts, and is tagged with the id it had in MLflow. Parent links
(``mlflow.parentRunId``) are rewritten to the new ids. Importing again skips what is already
there, so an interrupted import can simply be run again: a run whose import did not finish is
replaced.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from runbase.client import Client
from runbase.entities import RunStatus, ViewType
from runbase.errors import InvalidInputError
from runbase.mlflow_import._source import Source, SourceExperiment, SourceRun

__all__ = ["COMPLETE_TAG", "SOURCE_RUN_TAG", "ImportSummary", "import_runs"]

#: The run's id in the MLflow source.
SOURCE_RUN_TAG: Final = "runbase.import.source_run_id"
#: Where it came from (a path or URL).
SOURCE_TAG: Final = "runbase.import.source"
#: Set once everything of the run is in; a run without it is an interrupted import.
COMPLETE_TAG: Final = "runbase.import.complete"
_PARENT: Final = "mlflow.parentRunId"
_FLOAT_MAX: Final = sys.float_info.max


@dataclass
class ImportSummary:
    source: str
    experiments: int = 0
    runs: int = 0
    skipped: int = 0
    replaced: int = 0
    points: int = 0
    artifact_files: int = 0
    #: Source run ids whose artifacts could not be reached (a store this machine cannot read).
    without_artifacts: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"Imported from {self.source}: {self.experiments} experiments, {self.runs} runs "
            f"({self.points:,} metric points, {self.artifact_files:,} artifact files)",
        ]
        if self.skipped:
            lines.append(f"{self.skipped} runs were already imported and were left as they are")
        if self.replaced:
            lines.append(f"{self.replaced} runs left half-imported by an earlier try were redone")
        if self.without_artifacts:
            lines.append(
                f"{len(self.without_artifacts)} runs' artifacts were out of reach (copy them and "
                "pass --artifacts-root, or import from the server that serves them)"
            )
        return "\n".join(lines)


def _target_experiment(client: Client, experiment: SourceExperiment) -> str:
    found = client.get_experiment_by_name(experiment.name)
    if found is not None:
        if found.lifecycle_stage != "active":
            raise InvalidInputError(
                f"Experiment {experiment.name!r} is deleted in this store: restore it (or delete "
                "it for good) before importing into it"
            )
        return found.experiment_id
    return client.create_experiment(experiment.name, tags=experiment.tags)


def _imported(client: Client, experiment_id: str) -> dict[str, tuple[str, bool]]:
    """Source run id → (runbase run id, complete) of the runs already imported here."""
    out: dict[str, tuple[str, bool]] = {}
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], run_view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        for run in page:
            source_id = run.data.tags.get(SOURCE_RUN_TAG)
            if source_id:
                out[source_id] = (run.info.run_id, run.data.tags.get(COMPLETE_TAG) == "true")
        token = page.token
        if not token:
            return out


class _Importer:
    def __init__(
        self, source: Source, client: Client, artifacts: bool, say: Callable[[str], None]
    ) -> None:
        self.source = source
        self.client = client
        self.artifacts = artifacts
        self.say = say
        self.summary = ImportSummary(source.describe())
        self.new_ids: dict[str, str] = {}
        self.parents: dict[str, str] = {}  # runbase run id → source parent id
        self.to_delete: list[str] = []
        self.experiments_to_delete: list[str] = []

    def run(self, run: SourceRun, experiment_id: str) -> None:
        client = self.client
        tags = {k: v for k, v in run.tags.items() if k != _PARENT}
        if run.user_id and "mlflow.user" not in tags:
            tags["mlflow.user"] = run.user_id
        tags |= {SOURCE_RUN_TAG: run.run_id, SOURCE_TAG: self.source.describe()}
        new = client.create_run(
            experiment_id, start_time=run.start_time, tags=tags, run_name=run.name or None
        ).info.run_id
        self.new_ids[run.run_id] = new
        if _PARENT in run.tags:
            self.parents[new] = run.tags[_PARENT]
        if run.params:
            client.log_params(new, run.params)
        for key, columns in self.source.metrics(run).items():
            # MLflow's SQL store keeps ±inf as ±float max (its databases refuse infinities):
            # give them back their meaning, as runbase stores infinities as they are.
            values = np.where(
                np.abs(columns.values) == _FLOAT_MAX, columns.values * np.inf, columns.values
            )
            client.log_metric_series(new, key, values, columns.steps, columns.timestamps)
            self.summary.points += len(columns.values)
        datasets = self.source.datasets(run)
        if datasets:
            client.log_inputs(new, datasets)
        if self.artifacts:
            self._artifacts(run, new)
        client.flush()
        if run.status in RunStatus.TERMINATED:
            client.set_terminated(new, run.status, run.end_time or run.start_time)
        if run.lifecycle_stage == "deleted":
            self.to_delete.append(new)
        self.summary.runs += 1

    def _artifacts(self, run: SourceRun, new: str) -> None:
        with tempfile.TemporaryDirectory(prefix="runbase-import-") as tmp:
            folder = Path(tmp)
            if not self.source.fetch_artifacts(run, folder):
                if run.artifact_uri:
                    self.summary.without_artifacts.append(run.run_id)
                return
            files = sum(1 for p in folder.rglob("*") if p.is_file())
            if files:
                self.client.log_artifacts(new, folder)
                self.summary.artifact_files += files

    def finish(self) -> None:
        """Parent links to the new ids, the completion marks, then the deletions."""
        client = self.client
        for new, parent in self.parents.items():
            client.set_tag(new, _PARENT, self.new_ids.get(parent, parent))
        for new in self.new_ids.values():
            client.set_tag(new, COMPLETE_TAG, "true")
        for new in self.to_delete:
            client.delete_run(new)
        for experiment_id in self.experiments_to_delete:
            client.delete_experiment(experiment_id)


def import_runs(
    source: Source,
    client: Client,
    *,
    experiments: Sequence[str] | None = None,
    include_deleted: bool = False,
    artifacts: bool = True,
    say: Callable[[str], None] = lambda _text: None,
) -> ImportSummary:
    """Import every experiment of ``source`` (or those named or numbered in ``experiments``)
    and their runs into ``client``'s store; deleted ones only with ``include_deleted``."""
    importer = _Importer(source, client, artifacts, say)
    wanted = set(experiments or ())
    listed = source.experiments()
    missing = wanted - {e.name for e in listed} - {e.experiment_id for e in listed}
    if missing:
        raise InvalidInputError(
            f"No experiment {sorted(missing)} in {source.describe()}: nothing was imported"
        )
    for experiment in listed:
        if wanted and not wanted & {experiment.name, experiment.experiment_id}:
            continue
        if experiment.lifecycle_stage != "active" and not include_deleted:
            continue
        target = _target_experiment(client, experiment)
        importer.summary.experiments += 1
        if experiment.lifecycle_stage != "active":
            importer.experiments_to_delete.append(target)
        done = _imported(client, target)
        imported = skipped = 0
        for run in source.runs(experiment.experiment_id):
            if run.lifecycle_stage != "active" and not include_deleted:
                continue
            previous = done.get(run.run_id)
            if previous is not None and previous[1]:
                importer.new_ids[run.run_id] = previous[0]
                skipped += 1
                continue
            if previous is not None:  # interrupted last time: start that run again
                client.delete_run(previous[0])
                importer.summary.replaced += 1
            importer.run(run, target)
            imported += 1
        importer.summary.skipped += skipped
        say(f"{experiment.name}: {imported} runs imported, {skipped} already there")
    importer.finish()
    return importer.summary
