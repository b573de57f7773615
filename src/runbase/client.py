"""``Client``: every operation with explicit ids, like MLflow's ``MlflowClient``."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from runbase import _media
from runbase import _validation as v
from runbase._names import generate_run_name
from runbase._spool import Spool, server_directory, spool_root
from runbase._writer import QUEUED_SERIES_POINTS, MetricWriter
from runbase.artifacts import ArtifactRepository, FileInfo, get_artifact_repository
from runbase.entities import (
    CONTEXT_TAG,
    Dataset,
    DatasetInput,
    Experiment,
    Metric,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from runbase.errors import AlreadyExistsError, InvalidInputError, ServerUnavailableError
from runbase.model_entities import (
    LoggedModel,
    LoggedModelOutput,
    LoggedModelStatus,
    ModelVersion,
)
from runbase.store import MetricColumns, ModelStore, Store, is_remote, open_store, resolve_uri
from runbase.store.base import group_metrics

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Client", "PagedList", "default_tracking_uri"]

LOGGED_IMAGES_TAG = "mlflow.loggedImages"


def default_tracking_uri() -> str:
    """``RUNBASE_TRACKING_URI``, else ``runbase.db`` in the working directory."""
    return os.environ.get("RUNBASE_TRACKING_URI") or "runbase.db"


class PagedList(list[Run]):
    """A page of runs; ``token`` fetches the next page (None on the last)."""

    def __init__(self, items: Iterable[Run], token: str | None) -> None:
        super().__init__(items)
        self.token = token


class Client:
    """A handle on one tracking store.

    Metric points are batched in the background (see :meth:`log_metric`); everything else is
    written before the call returns. Reads flush this client's pending points first, so a client
    always reads what it wrote; :meth:`close` (or the end of the program) stores the rest.

    With a server (``http(s)://`` tracking URI), writes survive outages: while the server cannot
    be reached or answers 5xx, metric points, params, tags and run ends are kept in a spool on
    disk (``spool_dir``, default ``~/.cache/runbase/spool``) and sent, in order and exactly once,
    when it is back (see ``runbase._spool``; ``runbase sync`` sends what an exited process left).
    Creating a run needs the server: :meth:`create_run` raises
    :class:`~runbase.errors.ServerUnavailableError` when it is down.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        *,
        flush_interval: float = 1.0,
        spool_dir: str | Path | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self.store: Store = open_store(self.tracking_uri)
        spool = None
        if is_remote(self.tracking_uri):
            url = resolve_uri(self.tracking_uri)
            spool = Spool(server_directory(spool_root(spool_dir), url), url)
        #: The background writer that batches metric points (the fluent API appends to it).
        self.writer = MetricWriter(self.store, flush_interval, spool)
        self._artifact_repos: dict[str, ArtifactRepository] = {}

    def close(self) -> None:
        """Flush pending points and release the store."""
        try:
            self.writer.close()
        finally:
            for repo in self._artifact_repos.values():
                close = getattr(repo, "close", None)
                if close is not None:
                    close()
            self.store.close()

    def flush(self) -> None:
        """Write every pending metric point now; raise the first error the writer has seen."""
        self.writer.flush()

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        return self.store.create_experiment(name, artifact_location, tags)

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(experiment_id)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def search_experiments(self, view_type: str = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        return self.store.search_experiments(view_type)

    def delete_experiment(self, experiment_id: str) -> None:
        self.store.delete_experiment(experiment_id)

    def restore_experiment(self, experiment_id: str) -> None:
        self.store.restore_experiment(experiment_id)

    def set_experiment_tag(self, experiment_id: str, key: str, value: Any) -> None:
        self.store.set_experiment_tag(experiment_id, key, str(value))

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: Mapping[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        tag_map = {k: str(val) for k, val in (tags or {}).items()}
        name = run_name or tag_map.get("mlflow.runName") or generate_run_name()
        try:
            return self.store.create_run(
                experiment_id,
                run_name=name,
                user_id=tag_map.get("mlflow.user", ""),
                start_time=start_time,
                tags=tag_map,
            )
        except ServerUnavailableError as exc:
            raise ServerUnavailableError(
                f"Cannot start a run: {exc}. Runs are created on the server, so it must be up "
                "at the start; once a run exists, what it logs while the server is down is "
                "kept on disk and sent when it is back."
            ) from exc

    def get_run(self, run_id: str) -> Run:
        self.writer.flush()
        return self.store.get_run(run_id)

    def update_run(
        self, run_id: str, status: str | None = None, name: str | None = None
    ) -> RunInfo:
        end_time = _now_ms() if status in RunStatus.TERMINATED else None
        return self.store.update_run(run_id, status=status, end_time=end_time, run_name=name)

    def set_terminated(
        self, run_id: str, status: str = RunStatus.FINISHED, end_time: int | None = None
    ) -> RunInfo | None:
        """End a run: flush its points, then record status and end time.

        Returns the run's info; None when the server is down and the end waits in the spool."""
        if status not in RunStatus.ALL:
            raise InvalidInputError(
                f"Invalid run status {status!r}; expected one of {sorted(RunStatus.ALL)}"
            )
        return self.writer.end_run(run_id, status, end_time or _now_ms())

    def delete_run(self, run_id: str) -> None:
        self.writer.flush()
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        self.store.restore_run(run_id)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        run_view_type: str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList:
        """One page of runs matching MLflow's filter grammar (plus ``metrics.<key>.min/.max``)."""
        self.writer.flush()
        page = self.store.search_runs(
            list(experiment_ids), filter_string, run_view_type, max_results, order_by, page_token
        )
        return PagedList(page.runs, page.next_page_token)

    # -- params, tags, metrics ---------------------------------------------------------------
    def log_param(self, run_id: str, key: str, value: Any) -> Any:
        self.writer.write(run_id, params=[_param(key, value)])
        return value

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        """Log params; nested dicts become dotted keys (``{"model": {"depth": 4}}`` →
        ``model.depth``)."""
        flat = flatten(params)
        self.writer.write(run_id, params=[_param(k, x) for k, x in flat.items()])

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.writer.write(run_id, tags=[_tag(key, value)])

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        self.writer.write(run_id, tags=[_tag(k, x) for k, x in tags.items()])

    def delete_tag(self, run_id: str, key: str) -> None:
        self.store.delete_tag(run_id, key)

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        timestamp: int | None = None,
        step: int | None = None,
        synchronous: bool = False,
    ) -> None:
        """Queue one point and return at once; the background writer stores it within a
        second. ``synchronous=True`` waits until it is stored."""
        self.writer.log(run_id, key, value, timestamp, step)
        if synchronous:
            self.writer.flush()

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Metrics, params and tags in one atomic write, as MLflow's ``log_batch``."""
        self.writer.write(run_id, group_metrics(metrics), params, tags)

    def log_metric_series(
        self,
        run_id: str,
        key: str,
        values: npt.ArrayLike,
        steps: npt.ArrayLike | None = None,
        timestamps: npt.ArrayLike | None = None,
    ) -> None:
        """Append a whole series, or a block of one, at once (the fastest way in): steps default
        to 0, 1, 2... continuing nothing; timestamps default to now.

        A long series is stored before the call returns. A short one (under 100,000 points) is
        queued, copied, as ``log_metric``'s points are, and stored with them in the background
        within ``flush_interval``: many blocks then share one transaction (or one request to a
        server). Reads, ``flush`` and ending the run store it first; an error the store raises
        for it is raised by the next call."""
        vals = np.asarray(values, dtype=np.float64).ravel()
        n = vals.shape[0]
        step_arr = np.arange(n, dtype=np.int64) if steps is None else np.asarray(steps, np.int64)
        if timestamps is None:
            stamp_arr = np.full(n, _now_ms(), dtype=np.int64)
        else:
            stamp_arr = np.asarray(timestamps, np.int64)
        cols = MetricColumns(step_arr, stamp_arr, vals)
        if n >= QUEUED_SERIES_POINTS or not step_arr.shape == stamp_arr.shape == vals.shape:
            self.writer.write(run_id, {key: cols})  # a shape error is raised by the store
            return
        # Copies: the caller may refill its arrays before the queue is drained.
        copied = MetricColumns(step_arr.copy(), stamp_arr.copy(), vals.copy())
        self.writer.append(run_id, key, copied)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of a metric as :class:`~runbase.entities.Metric` objects, by step."""
        self.writer.flush()
        return self.store.get_metric_history(run_id, key)

    def get_metric_arrays(self, run_id: str, key: str) -> MetricColumns:
        """A metric as numpy arrays ``(steps, timestamps, values)``: the fast form."""
        self.writer.flush()
        return self.store.get_metric_columns(run_id, key)

    def get_metric_histories(self, run_ids: Sequence[str], keys: Sequence[str]) -> pd.DataFrame:
        """Many runs × keys as one long DataFrame: run_id, key, step, timestamp, value."""
        import pandas as pd

        self.writer.flush()
        frames = []
        for run_id in run_ids:
            for key in keys:
                cols = self.store.get_metric_columns(run_id, key)
                frames.append(
                    pd.DataFrame(
                        {
                            "run_id": run_id,
                            "key": key,
                            "step": cols.steps,
                            "timestamp": cols.timestamps,
                            "value": cols.values,
                        }
                    )
                )
        if not frames:
            return pd.DataFrame(columns=["run_id", "key", "step", "timestamp", "value"])
        return pd.concat(frames, ignore_index=True)

    # -- datasets ----------------------------------------------------------------------------
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        self.store.log_inputs(run_id, datasets)

    def log_input(
        self,
        run_id: str,
        dataset: Dataset | Any,
        context: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Dataset:
        """Record a dataset as a run input. ``dataset`` is a :class:`Dataset` or anything
        :func:`runbase.data.dataset` fingerprints (a folder, files, a DataFrame, an array)."""
        if not isinstance(dataset, Dataset):
            from runbase.data import dataset as make_dataset

            dataset = make_dataset(dataset)
        input_tags = dict(tags or {})
        if context is not None:
            input_tags[CONTEXT_TAG] = context
        self.store.log_inputs(run_id, [DatasetInput(dataset, input_tags)])
        return dataset

    # -- artifacts ---------------------------------------------------------------------------
    def artifact_repository(self, run_id: str) -> ArtifactRepository:
        repo = self._artifact_repos.get(run_id)
        if repo is None:
            uri = self.store.get_run(run_id).info.artifact_uri
            server = resolve_uri(self.tracking_uri) if is_remote(self.tracking_uri) else None
            repo = get_artifact_repository(uri, tracking_uri=server)
            self._artifact_repos[run_id] = repo
        return repo

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> None:
        self.artifact_repository(run_id).log_artifact(local_path, artifact_path)

    def log_artifacts(
        self, run_id: str, local_dir: str | Path, artifact_path: str | None = None
    ) -> None:
        self.artifact_repository(run_id).log_artifacts(local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.artifact_repository(run_id).write_bytes(artifact_file, text.encode())

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        data = _media.dict_to_bytes(dictionary, artifact_file)
        self.artifact_repository(run_id).write_bytes(artifact_file, data)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> None:
        data = _media.figure_to_bytes(figure, artifact_file)
        self.artifact_repository(run_id).write_bytes(artifact_file, data)

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
    ) -> str:
        """Store an image. With ``key`` (and ``step``) it joins a series browsable by step, laid
        out as MLflow lays it out; with ``artifact_file`` it is a plain file. Returns its path."""
        if (artifact_file is None) == (key is None):
            raise InvalidInputError("log_image needs exactly one of artifact_file or key")
        png = _media.image_to_png(image)
        if key is not None:
            v.validate_key("Image key", key)
            step = 0 if step is None else v.validate_step(key, step)
            stamp = _now_ms() if timestamp is None else int(timestamp)
            name = key.replace("/", "~")
            artifact_file = f"images/{name}+step+{step}+timestamp+{stamp}+{uuid.uuid4().hex}.png"
            self.artifact_repository(run_id).write_bytes(artifact_file, png)
            self.set_tag(run_id, LOGGED_IMAGES_TAG, "True")
        else:
            assert artifact_file is not None
            self.artifact_repository(run_id).write_bytes(artifact_file, png)
        return artifact_file

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        return self.artifact_repository(run_id).list_artifacts(path)

    def download_artifacts(self, run_id: str, path: str, dst_path: str | Path | None = None) -> str:
        """Copy an artifact file or folder to ``dst_path`` (a new temp folder by default)."""
        if dst_path is None:
            import tempfile

            dst_path = tempfile.mkdtemp(prefix="runbase-")
        return str(self.artifact_repository(run_id).download_artifacts(path, dst_path))

    # -- models ------------------------------------------------------------------------------
    @property
    def models(self) -> ModelStore:
        """The store's logged models and model registry (an embedded store's own)."""
        models = getattr(self.store, "models", None)
        if not isinstance(models, ModelStore):
            raise InvalidInputError(
                f"{self.tracking_uri}: this client reaches no model registry directly; a runbase "
                "server serves its registry over MLflow's REST API (use the mlflow client there)"
            )
        return models

    def log_model(
        self,
        run_id: str,
        local_dir: str | Path,
        name: str,
        *,
        model_type: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        step: int = 0,
    ) -> LoggedModel:
        """Log a folder of model files as a model the run produced (an MLflow 3 logged model,
        ``models:/<model_id>``): its files are copied under the model's own location, and it is
        READY when this returns. Use formats that need no code to load (weights as ``.npz``,
        ``safetensors``, ONNX, JSON): runbase never unpickles."""
        experiment_id = self.get_run(run_id).info.experiment_id
        models = self.models
        model = models.create_logged_model(
            experiment_id,
            name=name,
            source_run_id=run_id,
            model_type=model_type,
            tags={k: str(x) for k, x in (tags or {}).items()},
            params={k: str(x) for k, x in flatten(params or {}).items()},
        )
        try:
            get_artifact_repository(model.artifact_location).log_artifacts(local_dir)
        except BaseException:
            models.update_logged_model(model.model_id, status=LoggedModelStatus.UPLOAD_FAILED)
            raise
        models.log_outputs(run_id, [LoggedModelOutput(model.model_id, step)])
        return models.finalize_logged_model(model.model_id, LoggedModelStatus.READY)

    def register_model(
        self,
        model_uri: str,
        name: str,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """A new version of registered model ``name`` (created if new) from ``model_uri``:
        ``models:/<model_id>`` (a logged model), ``runs:/<run_id>/<path>`` or a location."""
        models = self.models
        with contextlib.suppress(AlreadyExistsError):
            models.create_registered_model(name)
        run_id = None
        if model_uri.startswith("runs:/"):
            run_id = model_uri[len("runs:/") :].split("/", 1)[0] or None
        return models.create_model_version(
            name,
            model_uri,
            run_id=run_id,
            tags={k: str(x) for k, x in (tags or {}).items()},
            description=description,
        )

    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``models:/<name>@<alias>`` at a version."""
        self.models.set_registered_model_alias(name, alias, version)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.models.get_model_version_by_alias(name, alias)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        """Where a registered model version's files are."""
        return self.models.get_model_version_download_uri(name, version)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; other values are kept as they are."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _param(key: str, value: Any) -> Param:
    """A param checked here, so a bad one fails at once even when it would be spooled."""
    v.validate_key("Param key", key)
    text = _stringify(value)
    v.validate_value("Param", key, text, v.MAX_PARAM_VALUE_LENGTH)
    return Param(key, text)


def _tag(key: str, value: Any) -> RunTag:
    v.validate_key("Tag key", key)
    text = _stringify(value)
    v.validate_value("Tag", key, text, v.MAX_TAG_VALUE_LENGTH)
    return RunTag(key, text)


def _stringify(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
