"""An ``mlruns`` folder: MLflow's file store.

Layout (MLflow 1.x to 3.x)::

    mlruns/<experiment>/meta.yaml               name, lifecycle_stage, ...
    mlruns/<experiment>/tags/<key>              experiment tags
    mlruns/<experiment>/datasets/<id>/meta.yaml datasets the experiment's runs used
    mlruns/<experiment>/<run>/meta.yaml         run info (status as a number)
    mlruns/<experiment>/<run>/metrics/<key>     one "timestamp value step" line per point
    mlruns/<experiment>/<run>/params/<key>      the value
    mlruns/<experiment>/<run>/tags/<key>        the value
    mlruns/<experiment>/<run>/inputs/<id>/meta.yaml   a dataset input and its tags
    mlruns/<experiment>/<run>/artifacts/        unless artifact_uri points elsewhere
    mlruns/.trash/<experiment>/                 deleted experiments

Keys holding ``/`` are nested folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import numpy as np

from runbase.entities import Dataset, DatasetInput
from runbase.errors import InvalidInputError
from runbase.mlflow_import._source import (
    Source,
    SourceExperiment,
    SourceRun,
    copy_local_artifacts,
    local_path,
)
from runbase.store.base import MetricColumns

__all__ = ["FileStoreSource"]

#: MLflow's RunStatus numbers, as the file store writes them.
_STATUS: Final = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_NOT_RUNS: Final = frozenset({"tags", "datasets", "models", "traces", "meta.yaml"})


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInputError(f"Cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def _key_files(folder: Path) -> dict[str, Path]:
    """``folder``'s files by key: their paths relative to it, with '/'."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def _values(folder: Path) -> dict[str, str]:
    return {key: path.read_text(encoding="utf-8") for key, path in _key_files(folder).items()}


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


class FileStoreSource(Source):
    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise InvalidInputError(f"{root} is not a folder")
        if not any(p.name == "meta.yaml" for p in root.glob("*/meta.yaml")):
            raise InvalidInputError(
                f"{root} holds no MLflow experiments (no <experiment>/meta.yaml): expected an "
                "mlruns folder"
            )
        self.root = root
        self._folders: dict[str, Path] = {}

    def describe(self) -> str:
        return str(self.root)

    def experiments(self) -> list[SourceExperiment]:
        out = []
        for meta in [
            *sorted(self.root.glob("*/meta.yaml")),
            *sorted(self.root.glob(".trash/*/meta.yaml")),
        ]:
            data = _yaml(meta)
            experiment_id = str(data.get("experiment_id", meta.parent.name))
            if experiment_id in self._folders:
                continue
            self._folders[experiment_id] = meta.parent
            stage = "deleted" if meta.parent.parent.name == ".trash" else "active"
            out.append(
                SourceExperiment(
                    experiment_id,
                    str(data.get("name", experiment_id)),
                    str(data.get("lifecycle_stage", stage)),
                    _values(meta.parent / "tags"),
                )
            )
        return out

    def _folder(self, experiment_id: str) -> Path:
        if not self._folders:
            self.experiments()
        return self._folders[experiment_id]

    def runs(self, experiment_id: str) -> list[SourceRun]:
        out = []
        for meta in sorted(self._folder(experiment_id).glob("*/meta.yaml")):
            folder = meta.parent
            if folder.name in _NOT_RUNS:
                continue
            data = _yaml(meta)
            run_id = str(data.get("run_id") or data.get("run_uuid") or folder.name)
            tags = _values(folder / "tags")
            status = data.get("status", 3)
            out.append(
                SourceRun(
                    run_id=run_id,
                    experiment_id=experiment_id,
                    name=str(data.get("run_name") or tags.get("mlflow.runName") or ""),
                    user_id=str(data.get("user_id") or ""),
                    status=_STATUS.get(status, "FINISHED")
                    if isinstance(status, int)
                    else str(status),
                    start_time=_int(data.get("start_time")),
                    end_time=_int(data.get("end_time")),
                    lifecycle_stage=str(data.get("lifecycle_stage", "active")),
                    artifact_uri=str(data.get("artifact_uri") or ""),
                    params=_values(folder / "params"),
                    tags=tags,
                )
            )
        return out

    def _run_folder(self, run: SourceRun) -> Path:
        return self._folder(run.experiment_id) / run.run_id

    def metrics(self, run: SourceRun) -> dict[str, MetricColumns]:
        out = {}
        for key, path in _key_files(self._run_folder(run) / "metrics").items():
            steps, stamps, values = [], [], []
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                try:
                    stamps.append(int(parts[0]))
                    values.append(float(parts[1]))
                    steps.append(int(parts[2]) if len(parts) > 2 else 0)
                except (IndexError, ValueError):
                    raise InvalidInputError(
                        f"{path}:{number}: expected 'timestamp value step', got {line!r}"
                    ) from None
            out[key] = MetricColumns(
                np.array(steps, np.int64), np.array(stamps, np.int64), np.array(values, np.float64)
            )
        return out

    def datasets(self, run: SourceRun) -> list[DatasetInput]:
        out = []
        experiment = self._folder(run.experiment_id)
        for meta in sorted((self._run_folder(run) / "inputs").glob("*/meta.yaml")):
            data = _yaml(meta)
            if data.get("source_type") != "DATASET":
                continue
            found = experiment / "datasets" / str(data.get("source_id")) / "meta.yaml"
            if not found.is_file():
                continue
            ds = _yaml(found)
            dataset = Dataset(
                name=str(ds.get("name", "")),
                digest=str(ds.get("digest", "")),
                source_type=str(ds.get("source_type", "")),
                source=str(ds.get("source", "")),
                schema=str(ds.get("schema") or ""),
                profile=str(ds.get("profile") or ""),
            )
            tags = {str(k): str(v) for k, v in (data.get("tags") or {}).items()}
            out.append(DatasetInput(dataset, tags))
        return out

    def fetch_artifacts(self, run: SourceRun, destination: Path) -> bool:
        where = local_path(run.artifact_uri)
        if where is None or not where.is_dir():
            where = self._run_folder(run) / "artifacts"  # the folder moved since it was logged
        copy_local_artifacts(where, destination)
        return True
