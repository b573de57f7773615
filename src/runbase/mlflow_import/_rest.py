"""A live MLflow tracking server, read through its REST API (``/api/2.0/mlflow/...``).

Artifacts come through the server's artifact proxy when the runs' artifact URIs are
``mlflow-artifacts:/...`` (``mlflow server`` with ``--serve-artifacts``, the default since
MLflow 2); a ``file:`` location is copied when it exists on this machine. Other stores (S3,
GCS...) are left out and counted in the summary.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np

from runbase.artifacts._http import from_mlflow_artifacts_uri
from runbase.entities import Dataset, DatasetInput
from runbase.errors import InvalidInputError, RunbaseError
from runbase.mlflow_import._source import (
    Source,
    SourceExperiment,
    SourceRun,
    copy_local_artifacts,
    local_path,
)
from runbase.store.base import MetricColumns

__all__ = ["RestSource"]

_API: Final = "/api/2.0/mlflow"
_PAGE: Final = 1000
_HISTORY_PAGE: Final = 25_000


def _pairs(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(i["key"]): str(i.get("value", "")) for i in items or []}


def _float(value: Any) -> float:
    if isinstance(value, str):  # MLflow sends NaN and infinities as strings
        return float({"Infinity": "inf", "-Infinity": "-inf"}.get(value, value))
    return math.nan if value is None else float(value)


class RestSource(Source):
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        self._runs: dict[str, dict[str, Any]] = {}
        try:
            self._call("POST", "/experiments/search", {"max_results": 1})
        except RunbaseError:
            self.http.close()
            raise

    def describe(self) -> str:
        return self.url

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            if method == "GET":
                response = self.http.get(_API + path, params=body)
            else:
                response = self.http.post(_API + path, json=body or {})
        except httpx.HTTPError as exc:
            raise InvalidInputError(
                f"Cannot reach the MLflow server at {self.url}: {exc}"
            ) from None
        if response.status_code != 200:
            raise InvalidInputError(
                f"{self.url}{_API}{path} answered {response.status_code}: {response.text[:300]}"
            )
        data = response.json()
        return data if isinstance(data, dict) else {}

    def _pages(self, path: str, body: dict[str, Any], field: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        token = None
        while True:
            answer = self._call("POST", path, {**body, **({"page_token": token} if token else {})})
            out += answer.get(field, [])
            token = answer.get("next_page_token")
            if not token:
                return out

    def experiments(self) -> list[SourceExperiment]:
        found = self._pages(
            "/experiments/search", {"max_results": _PAGE, "view_type": "ALL"}, "experiments"
        )
        return [
            SourceExperiment(
                str(e["experiment_id"]),
                str(e.get("name", "")),
                str(e.get("lifecycle_stage", "active")),
                _pairs(e.get("tags")),
            )
            for e in found
        ]

    def runs(self, experiment_id: str) -> list[SourceRun]:
        body = {"experiment_ids": [experiment_id], "run_view_type": "ALL", "max_results": _PAGE}
        out = []
        for run in self._pages("/runs/search", body, "runs"):
            info = run.get("info", {})
            data = run.get("data", {})
            run_id = str(info.get("run_id") or info.get("run_uuid"))
            self._runs[run_id] = run
            tags = _pairs(data.get("tags"))
            out.append(
                SourceRun(
                    run_id=run_id,
                    experiment_id=experiment_id,
                    name=str(info.get("run_name") or tags.get("mlflow.runName", "")),
                    user_id=str(info.get("user_id", "")),
                    status=str(info.get("status", "FINISHED")),
                    start_time=int(info["start_time"]) if info.get("start_time") else None,
                    end_time=int(info["end_time"]) if info.get("end_time") else None,
                    lifecycle_stage=str(info.get("lifecycle_stage", "active")),
                    artifact_uri=str(info.get("artifact_uri", "")),
                    params=_pairs(data.get("params")),
                    tags=tags,
                )
            )
        return out

    def metrics(self, run: SourceRun) -> dict[str, MetricColumns]:
        keys = {m["key"] for m in self._runs.get(run.run_id, {}).get("data", {}).get("metrics", [])}
        out = {}
        for key in sorted(keys):
            points: list[dict[str, Any]] = []
            token = None
            while True:
                query = {"run_id": run.run_id, "metric_key": key, "max_results": _HISTORY_PAGE}
                answer = self._call(
                    "GET",
                    "/metrics/get-history",
                    {**query, **({"page_token": token} if token else {})},
                )
                points += answer.get("metrics", [])
                token = answer.get("next_page_token")
                if not token:
                    break
            out[key] = MetricColumns(
                np.array([int(p.get("step", 0)) for p in points], np.int64),
                np.array([int(p.get("timestamp", 0)) for p in points], np.int64),
                np.array([_float(p.get("value")) for p in points], np.float64),
            )
        return out

    def datasets(self, run: SourceRun) -> list[DatasetInput]:
        inputs = self._runs.get(run.run_id, {}).get("inputs", {}).get("dataset_inputs", [])
        out = []
        for item in inputs:
            d = item.get("dataset", {})
            dataset = Dataset(
                str(d.get("name", "")),
                str(d.get("digest", "")),
                str(d.get("source_type", "")),
                str(d.get("source", "")),
                str(d.get("schema", "") or ""),
                str(d.get("profile", "") or ""),
            )
            out.append(DatasetInput(dataset, _pairs(item.get("tags"))))
        return out

    def fetch_artifacts(self, run: SourceRun, destination: Path) -> bool:
        uri = run.artifact_uri
        if uri.startswith("mlflow-artifacts:"):
            repo = from_mlflow_artifacts_uri(uri, self.url)
            try:
                repo.download_artifacts("", destination)
            finally:
                repo.close()
            return True
        folder = local_path(uri)
        if folder is None or not folder.is_dir():  # another store, or another machine's disk
            return False
        copy_local_artifacts(folder, destination)
        return True
