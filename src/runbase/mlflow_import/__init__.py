"""Bring MLflow's history into runbase: ``runbase import mlflow SOURCE``.

``SOURCE`` is an ``mlruns`` folder (MLflow's file store), an MLflow database
(``mlflow.db``, ``sqlite:///...``, ``postgresql://...``) or a running MLflow server
(``http(s)://host:port``). Experiments, runs (name, user, times, status, params, tags, every
metric point, dataset inputs, artifacts) and parent links are copied; the source is only read.
Importing again skips the runs already imported::

    from runbase import mlflow_import

    summary = mlflow_import.import_mlflow("mlruns", tracking_uri="runbase.db")
    print(summary.text())

MLflow 3 logged models, the model registry and traces are not imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from runbase.errors import InvalidInputError
from runbase.mlflow_import._importer import ImportSummary, import_runs
from runbase.mlflow_import._source import Source, local_path

__all__ = ["ImportSummary", "import_mlflow", "open_source"]

_DATABASES = ("sqlite:", "postgresql:", "postgresql+psycopg:")


def open_source(source: str | Path, artifacts_root: str | Path | None = None) -> Source:
    """The reader for an mlruns folder, an MLflow database or an MLflow server URL.

    ``artifacts_root`` is where a database's ``mlflow-artifacts:/`` artifacts are on disk
    (default: ``mlartifacts`` next to a SQLite file)."""
    text = str(source)
    root = None if artifacts_root is None else Path(artifacts_root)
    if text.startswith(("http://", "https://")):
        from runbase.mlflow_import._rest import RestSource

        return RestSource(text)
    if text.startswith(_DATABASES):
        from runbase.mlflow_import._sql import SqlSource

        return SqlSource(text, root)
    path = local_path(text)
    if path is None:
        raise InvalidInputError(
            f"Unsupported MLflow source {text!r}: expected an mlruns folder, an MLflow database "
            "(a .db file, sqlite:///..., postgresql://...) or an http(s):// server"
        )
    if path.is_dir():
        from runbase.mlflow_import._files import FileStoreSource

        return FileStoreSource(path)
    if path.is_file():
        from runbase.mlflow_import._sql import SqlSource

        return SqlSource(f"sqlite:///{path.resolve()}", root)
    raise InvalidInputError(f"{text}: no such file or folder")


def import_mlflow(
    source: str | Path,
    *,
    tracking_uri: str | None = None,
    experiments: Sequence[str] | None = None,
    include_deleted: bool = False,
    artifacts: bool = True,
    artifacts_root: str | Path | None = None,
    say: Callable[[str], None] = lambda _text: None,
) -> ImportSummary:
    """Import ``source`` into the store at ``tracking_uri`` (default: the current one).

    ``experiments`` limits it to these names or ids; deleted experiments and runs come along
    (and stay deleted) only with ``include_deleted``; ``artifacts=False`` leaves files behind.
    ``say`` receives a line per experiment."""
    from runbase.client import Client, default_tracking_uri

    reader = open_source(source, artifacts_root)
    client = Client(tracking_uri or default_tracking_uri())
    try:
        return import_runs(
            reader,
            client,
            experiments=experiments,
            include_deleted=include_deleted,
            artifacts=artifacts,
            say=say,
        )
    finally:
        client.close()
        reader.close()
