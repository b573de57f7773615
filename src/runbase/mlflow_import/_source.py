"""What an MLflow source looks like to the importer: frozen records and a small reader contract.

Three readers implement it: an ``mlruns`` folder (MLflow's file store), an MLflow database
(SQLite or PostgreSQL, read with plain SQL) and a live MLflow server (its REST API). They only
read; nothing in the source is changed.
"""

from __future__ import annotations

import abc
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from runbase.entities import DatasetInput
from runbase.store.base import MetricColumns

__all__ = ["Source", "SourceExperiment", "SourceRun", "copy_local_artifacts", "local_path"]


@dataclass(frozen=True)
class SourceExperiment:
    experiment_id: str
    name: str
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceRun:
    run_id: str
    experiment_id: str
    name: str
    user_id: str
    status: str  # RUNNING, SCHEDULED, FINISHED, FAILED or KILLED
    start_time: int | None
    end_time: int | None
    lifecycle_stage: str
    artifact_uri: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


class Source(abc.ABC):
    """Reads experiments, runs, metric series, dataset inputs and artifacts from MLflow."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The source, as a user would name it (a path or URL)."""

    @abc.abstractmethod
    def experiments(self) -> list[SourceExperiment]:
        """Every experiment, deleted ones included."""

    @abc.abstractmethod
    def runs(self, experiment_id: str) -> list[SourceRun]:
        """Every run of an experiment, deleted ones included."""

    @abc.abstractmethod
    def metrics(self, run: SourceRun) -> dict[str, MetricColumns]:
        """Every point of every metric of the run."""

    @abc.abstractmethod
    def datasets(self, run: SourceRun) -> list[DatasetInput]:
        """The run's dataset inputs with their tags (the context among them)."""

    @abc.abstractmethod
    def fetch_artifacts(self, run: SourceRun, destination: Path) -> bool:
        """Copy the run's artifacts into ``destination`` (an empty folder); False when they
        live where this source cannot reach (then nothing was copied)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def local_path(uri: str) -> Path | None:
    """A ``file:`` URI or a plain path as a local path; None for any other scheme."""
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(url2pathname(unquote(parts.path)))
    if parts.scheme == "" or (len(parts.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        return Path(uri)
    return None


def copy_local_artifacts(folder: Path, destination: Path) -> None:
    """Copy a local artifact folder's contents; a missing folder holds nothing (MLflow creates
    a run's artifact folder on its first file)."""
    if folder.is_dir():
        shutil.copytree(folder, destination, dirs_exist_ok=True, symlinks=False)
