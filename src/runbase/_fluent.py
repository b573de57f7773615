"""Module-level verbs (``runbase.start_run``, ``runbase.log_metric``...) over one default Client.

The state is one object, ``_state``: the tracking URI, the client, the current experiment, and a
per-thread stack of active runs (nested runs push onto it).
"""

from __future__ import annotations

import atexit
import getpass
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from runbase import _system_metrics
from runbase._validation import validate_metric_value, validate_step
from runbase._writer import BATCH_FIELDS
from runbase.client import Client, default_tracking_uri
from runbase.entities import (
    Dataset,
    Experiment,
    Run,
    RunStatus,
    ViewType,
)
from runbase.errors import InvalidInputError, RunbaseError

if TYPE_CHECKING:
    import pandas as pd

    from runbase._system_metrics import SystemMetricsMonitor

PARENT_TAG = "mlflow.parentRunId"
#: A run to resume at the first ``start_run()``: set by sweep agents for the commands they run.
RUN_ID_ENV = "RUNBASE_RUN_ID"


class ActiveRun(Run, frozen=True):
    """The run ``start_run`` returned; a context manager that ends it (FAILED on an exception,
    KILLED on Ctrl-C)."""

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status = RunStatus.FINISHED
        elif issubclass(exc_type, KeyboardInterrupt):
            status = RunStatus.KILLED
        else:
            status = RunStatus.FAILED
        if _state.top() is not None and _state.top() == self.info.run_id:
            end_run(status)


class _State:
    def __init__(self) -> None:
        self.tracking_uri: str | None = None
        self.client: Client | None = None
        self.experiment_id: str | None = None
        self.local = threading.local()
        self.lock = threading.Lock()
        self.handlers_installed = False
        #: System-metrics samplers of active runs, by run id.
        self.monitors: dict[str, SystemMetricsMonitor] = {}

    def stack(self) -> list[str]:
        stack: list[str] | None = getattr(self.local, "stack", None)
        if stack is None:
            stack = self.local.stack = []
        return stack

    def top(self) -> str | None:
        stack = self.stack()
        return stack[-1] if stack else None

    def get_client(self) -> Client:
        client = self.client
        if client is None:
            with self.lock:
                if self.client is None:
                    self.client = Client(self.tracking_uri or default_tracking_uri())
                client = self.client
        return client


_state = _State()
_local = _state.local
_now = time.time


def current_client() -> Client:
    """The client the module-level verbs use."""
    return _state.get_client()


def active_run_id() -> str | None:
    """The id of this thread's active run, without reading it from the store."""
    return _state.top()


def attach_run(run_id: str) -> None:
    """Make an existing, running run this thread's active run without reading or touching it
    in the store (a sweep agent's trial run, just created). ``end_run`` ends it as usual."""
    _state.get_client()
    _install_exit_handlers()
    _state.stack().append(run_id)


# -- configuration -----------------------------------------------------------------------------
def set_tracking_uri(uri: str | Path) -> None:
    """Where runs go: a SQLite path, ``sqlite:///...`` or ``postgresql://...``."""
    if _state.stack():
        raise InvalidInputError("Cannot change the tracking URI while a run is active")
    old, _state.client = _state.client, None
    _state.tracking_uri = str(uri)
    _state.experiment_id = None
    if old is not None:
        old.close()


def get_tracking_uri() -> str:
    return _state.tracking_uri or default_tracking_uri()


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment current, creating it by name if it does not exist."""
    client = _state.get_client()
    if (experiment_name is None) == (experiment_id is None):
        raise InvalidInputError(
            "set_experiment needs exactly one of experiment_name or experiment_id"
        )
    if experiment_id is not None:
        experiment = client.get_experiment(experiment_id)
    else:
        assert experiment_name is not None
        found = client.get_experiment_by_name(experiment_name)
        if found is None:
            experiment = client.get_experiment(client.create_experiment(experiment_name))
        else:
            experiment = found
    if experiment.lifecycle_stage != "active":
        raise InvalidInputError(
            f"Cannot set a deleted experiment {experiment.name!r} as the active experiment; "
            "restore it first"
        )
    _state.experiment_id = experiment.experiment_id
    return experiment


def create_experiment(
    name: str, artifact_location: str | None = None, tags: Mapping[str, Any] | None = None
) -> str:
    return _state.get_client().create_experiment(
        name, artifact_location, {k: str(x) for k, x in (tags or {}).items()}
    )


def get_experiment(experiment_id: str) -> Experiment:
    return _state.get_client().get_experiment(experiment_id)


def get_experiment_by_name(name: str) -> Experiment | None:
    return _state.get_client().get_experiment_by_name(name)


def _current_experiment_id() -> str:
    if _state.experiment_id is not None:
        return _state.experiment_id
    name = os.environ.get("RUNBASE_EXPERIMENT_NAME")
    if name:
        return set_experiment(name).experiment_id
    return os.environ.get("RUNBASE_EXPERIMENT_ID") or "0"


# -- runs --------------------------------------------------------------------------------------
def start_run(
    run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
    log_system_metrics: bool | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it active; use it as a context manager.

    Inside an active run, pass ``nested=True`` to start a child run. Without ``run_name`` a
    readable one is generated. When ``RUNBASE_RUN_ID`` is set (a sweep agent sets it for the
    commands it runs), the first run started is that run, resumed.

    ``log_system_metrics=True`` samples CPU, memory, disk, network and NVIDIA GPUs every 10 s
    (``RUNBASE_SYSTEM_METRICS_SAMPLING_INTERVAL``) as ``system/...`` metrics until the run ends;
    None follows ``RUNBASE_ENABLE_SYSTEM_METRICS_LOGGING`` (or MLflow's variable).
    """
    client = _state.get_client()
    stack = _state.stack()
    if run_id is None and not stack and not nested:
        run_id = os.environ.get(RUN_ID_ENV) or None
    if stack and not nested:
        raise InvalidInputError(
            f"Run with UUID {stack[-1]} is already active. End it with runbase.end_run() first, "
            "or start a nested run with start_run(nested=True)"
        )
    _install_exit_handlers()
    if run_id is not None:
        run = client.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise InvalidInputError(f"Cannot resume run {run_id}: it is deleted")
        client.store.update_run(run_id, status=RunStatus.RUNNING)
    else:
        parent = parent_run_id or (stack[-1] if stack else None)
        all_tags = {**_default_tags(), **{k: str(x) for k, x in (tags or {}).items()}}
        if parent is not None:
            all_tags[PARENT_TAG] = parent
        if description is not None:
            all_tags["mlflow.note.content"] = description
        run = client.create_run(
            experiment_id or _current_experiment_id(), tags=all_tags, run_name=run_name
        )
    stack.append(run.info.run_id)
    if log_system_metrics or (log_system_metrics is None and _system_metrics.enabled_by_env()):
        monitor = _system_metrics.SystemMetricsMonitor(client, run.info.run_id)
        _state.monitors[run.info.run_id] = monitor.start()
    return ActiveRun(info=run.info, data=run.data, inputs=run.inputs)


def active_run() -> ActiveRun | None:
    run_id = _state.top()
    if run_id is None:
        return None
    run = _state.get_client().get_run(run_id)
    return ActiveRun(info=run.info, data=run.data, inputs=run.inputs)


def last_active_run_id() -> str | None:
    return getattr(_state.local, "last_run_id", None)


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run: store every pending point, then set status and end time."""
    stack = _state.stack()
    if not stack:
        return
    run_id = stack[-1]
    client = _state.get_client()
    monitor = _state.monitors.pop(run_id, None)
    sampling_error = monitor.stop() if monitor is not None else None
    try:
        client.set_terminated(run_id, status)
    finally:
        stack.pop()
        _state.local.last_run_id = run_id
    if sampling_error is not None:
        raise sampling_error


def _run_id() -> str:
    run_id = _state.top()
    if run_id is None:
        return start_run().info.run_id  # MLflow starts a run implicitly on first log
    return run_id


def get_run(run_id: str) -> Run:
    return _state.get_client().get_run(run_id)


def delete_run(run_id: str) -> None:
    _state.get_client().delete_run(run_id)


# -- logging -----------------------------------------------------------------------------------
def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool = False,
    run_id: str | None = None,
) -> None:
    """Queue a metric point and return at once (well under a microsecond); it is stored in the
    background within a second, and always before ``end_run`` returns."""
    client = _state.client or _state.get_client()
    if run_id is None:
        try:
            run_id = _local.stack[-1]
        except (AttributeError, IndexError):
            run_id = _run_id()
    # MetricWriter.log, inlined: the call frame it saves is a sixth of the cost of a call.
    writer = client.writer
    if writer.error is not None:
        writer.raise_error()
    if step is None:
        step = 0
    # Floats and small int steps pass on comparisons CPython runs fastest (single-digit ints);
    # anything else goes through the full checks.
    if type(value) is not float or type(step) is not int or step > 0x3FFFFFFF or step < -0x3FFFFFFF:
        value, step = validate_metric_value(key, value), validate_step(key, step)
    try:
        points = writer.series[run_id][key]
    except KeyError:
        points = writer.new_series(run_id, key)
    points += (value, _now() * 1000.0 if timestamp is None else int(timestamp), step)
    if len(points) >= BATCH_FIELDS:
        writer.full(run_id, key, points)
    if synchronous:
        client.flush()


def log_metrics(
    metrics: Mapping[str, float],
    step: int | None = None,
    timestamp: int | None = None,
    synchronous: bool = False,
    run_id: str | None = None,
) -> None:
    client = _state.client or _state.get_client()
    rid = run_id or _run_id()
    # MetricWriter.log, inlined, with what the points share done once: a sweep logs tens of
    # metrics a step, and a call per point cost a third of the time.
    writer = client.writer
    if writer.error is not None:
        writer.raise_error()
    stamp = int(_now() * 1000) if timestamp is None else int(timestamp)
    if step is None:
        step = 0
    elif type(step) is not int or step > 0x3FFFFFFF or step < -0x3FFFFFFF:
        step = validate_step(next(iter(metrics), ""), step)
    keys = writer.series.get(rid)
    for key, given in metrics.items():
        value = given if type(given) is float else validate_metric_value(key, given)
        points = None if keys is None else keys.get(key)
        if points is None:
            points = writer.new_series(rid, key)
            keys = writer.series[rid]
        points += (value, stamp, step)
        if len(points) >= BATCH_FIELDS:
            writer.full(rid, key, points)
    if synchronous:
        client.flush()


def log_param(key: str, value: Any) -> Any:
    return _state.get_client().log_param(_run_id(), key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log params now (a changed value raises); nested dicts become ``a.b.c`` keys."""
    _state.get_client().log_params(_run_id(), params)


def set_tag(key: str, value: Any) -> None:
    _state.get_client().set_tag(_run_id(), key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _state.get_client().set_tags(_run_id(), tags)


def delete_tag(key: str) -> None:
    _state.get_client().delete_tag(_run_id(), key)


def log_input(
    dataset: Dataset | Any, context: str | None = None, tags: Mapping[str, str] | None = None
) -> Dataset:
    """Record the data this run used (a Dataset, folder, file list, DataFrame or array)."""
    return _state.get_client().log_input(_run_id(), dataset, context, tags)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> None:
    _state.get_client().log_artifact(_run_id(), local_path, artifact_path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    _state.get_client().log_artifacts(_run_id(), local_dir, artifact_path)


def log_text(text: str, artifact_file: str) -> None:
    _state.get_client().log_text(_run_id(), text, artifact_file)


def log_dict(dictionary: Any, artifact_file: str) -> None:
    _state.get_client().log_dict(_run_id(), dictionary, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    _state.get_client().log_figure(_run_id(), figure, artifact_file)


def log_image(
    image: Any,
    artifact_file: str | None = None,
    key: str | None = None,
    step: int | None = None,
    timestamp: int | None = None,
) -> str:
    return _state.get_client().log_image(_run_id(), image, artifact_file, key, step, timestamp)


def get_artifact_uri(artifact_path: str | None = None) -> str:
    uri = _state.get_client().get_run(_run_id()).info.artifact_uri
    return uri if not artifact_path else f"{uri}/{artifact_path.lstrip('/')}"


# -- search ------------------------------------------------------------------------------------
def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    run_view_type: str = ViewType.ACTIVE_ONLY,
    max_results: int = 100_000,
    order_by: Sequence[str] | None = None,
    output_format: str = "pandas",
    search_all_experiments: bool = False,
    experiment_names: Sequence[str] | None = None,
) -> pd.DataFrame | list[Run]:
    """Runs matching a filter, as a pandas DataFrame (``metrics.*``, ``params.*``, ``tags.*``
    columns) when pandas is installed and ``output_format="pandas"``, else a list of runs."""
    client = _state.get_client()
    ids = list(experiment_ids or [])
    for name in experiment_names or []:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            ids.append(experiment.experiment_id)
    if search_all_experiments:
        ids = [e.experiment_id for e in client.search_experiments(ViewType.ALL)]
    elif not ids and not experiment_names:
        ids = [_current_experiment_id()]
    runs: list[Run] = []
    token = None
    while len(runs) < max_results:
        page = client.search_runs(
            ids, filter_string, run_view_type, min(max_results - len(runs), 50_000), order_by, token
        )
        runs.extend(page)
        token = page.token
        if not token:
            break
    if output_format == "list":
        return runs
    if output_format != "pandas":
        raise InvalidInputError(f"output_format must be 'pandas' or 'list', got {output_format!r}")
    try:
        import pandas  # noqa: F401
    except ModuleNotFoundError:
        return runs
    return runs_to_dataframe(runs)


def runs_to_dataframe(runs: Sequence[Run]) -> pd.DataFrame:
    import pandas as pd

    records = []
    for run in runs:
        info = run.info
        record: dict[str, Any] = {
            "run_id": info.run_id,
            "experiment_id": info.experiment_id,
            "status": info.status,
            "artifact_uri": info.artifact_uri,
            "start_time": pd.Timestamp(info.start_time, unit="ms", tz="UTC"),
            "end_time": pd.Timestamp(info.end_time, unit="ms", tz="UTC")
            if info.end_time is not None
            else pd.NaT,
        }
        record.update({f"metrics.{k}": x for k, x in run.data.metrics.items()})
        record.update({f"params.{k}": x for k, x in run.data.params.items()})
        record.update({f"tags.{k}": x for k, x in run.data.tags.items()})
        records.append(record)
    columns = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    return pd.DataFrame.from_records(records, columns=None if records else columns)


# -- run context -------------------------------------------------------------------------------
_git_commit_cache: dict[str, str | None] = {}


def _git_commit(start: str) -> str | None:
    """The checked-out commit, read from .git directly (a subprocess would cost milliseconds;
    plain ``os.path`` calls cost a fraction of pathlib's on a run's first start)."""
    if start in _git_commit_cache:
        return _git_commit_cache[start]
    commit = None
    folder = start
    while True:
        git = os.path.join(folder, ".git")
        if os.path.isdir(git):
            try:
                commit = _read_head(git)
            except OSError:
                commit = None
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    _git_commit_cache[start] = commit
    return commit


def _read_head(git: str) -> str | None:
    with open(os.path.join(git, "HEAD")) as file:
        head = file.read().strip()
    if not head.startswith("ref: "):
        return head
    ref = head[5:]
    try:
        with open(os.path.join(git, ref)) as file:
            return file.read().strip()
    except FileNotFoundError:
        pass
    try:
        with open(os.path.join(git, "packed-refs")) as file:
            packed = file.read()
    except FileNotFoundError:
        return None
    commit = None
    for line in packed.splitlines():
        if line.endswith(" " + ref):
            commit = line.split(" ", 1)[0]
    return commit


_default_tags_cache: dict[tuple[str, str], dict[str, str]] = {}


def _default_tags() -> dict[str, str]:
    """User, source and git commit: looked up once per script and working directory, so starting
    a run reads no files and makes no user lookup after the first."""
    script = sys.argv[0] if sys.argv else ""
    try:
        cwd = os.getcwd()
    except OSError:  # the working directory was removed
        cwd = ""
    tags = _default_tags_cache.get((script, cwd))
    if tags is None:
        tags = {
            "mlflow.user": _user(),
            "mlflow.source.name": script or "<interactive>",
            "mlflow.source.type": "LOCAL",
        }
        where = os.path.dirname(os.path.realpath(script)) if script else os.path.abspath(cwd or ".")
        commit = _git_commit(where)
        if commit:
            tags["mlflow.source.git.commit"] = commit
        _default_tags_cache[(script, cwd)] = tags
    return dict(tags)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _end_all(status: str) -> None:
    """End every active run of this thread, innermost first, and store all pending points."""
    client = _state.client
    if client is None:
        return
    while _state.stack():
        try:
            end_run(status)
        except RunbaseError as exc:
            print(f"runbase: could not end run cleanly: {exc}", file=sys.stderr)
    try:
        client.flush()
    except RunbaseError as exc:
        print(f"runbase: {exc}", file=sys.stderr)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _end_all(RunStatus.KILLED)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_exit_handlers() -> None:
    if _state.handlers_installed:
        return
    _state.handlers_installed = True
    atexit.register(_end_all, RunStatus.FINISHED)
    # Only take SIGTERM when nobody else did, and only from the main thread (Python's rule).
    if threading.current_thread() is threading.main_thread() and signal.getsignal(
        signal.SIGTERM
    ) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)
