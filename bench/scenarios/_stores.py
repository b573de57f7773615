"""Fresh stores for each tool, opened and migrated before anything is timed.

The worker runs every measurement with a new temporary folder as its working directory, so both
tools keep their database and artifacts there and nothing leaks between measurements.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from scenarios import _cache

if TYPE_CHECKING:
    import mlflow

    import runbase

EXPERIMENT = "bench"


def runbase_path() -> str:
    return str(Path.cwd() / "runbase.db")


def mlflow_uri() -> str:
    return mlflow_db(Path.cwd() / "mlflow.db")


def mlflow_db(path: Path) -> str:
    """The URI of MLflow's SQLite store at ``path``. A new store starts as a copy of an empty
    one already migrated: MLflow's first open runs its Alembic migrations, about five seconds
    of every measurement that would otherwise stay out of the timings anyway."""
    if not path.exists() and os.environ.get("BENCH_INTERPRETER") == "mlflow":
        shutil.copyfile(_migrated_mlflow_db(), path)
    return f"sqlite:///{path}"


def _migrated_mlflow_db() -> Path:
    from importlib.metadata import version

    def build(folder: Path) -> None:
        import mlflow

        mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").search_experiments()

    key = _cache.digest({"mlflow": version("mlflow")}, code=[build])
    folder, _ = _cache.entry("mlflow-empty", key, build)
    return folder / "mlflow.db"


def runbase_fluent() -> None:
    """Point runbase's fluent API at a new store, creating the schema and the experiment."""
    import runbase

    runbase.set_tracking_uri(runbase_path())
    runbase.set_experiment(EXPERIMENT)


def mlflow_fluent() -> None:
    """Point MLflow's fluent API at a new SQLite store. Its first open runs every Alembic
    migration (seconds), which must stay out of the timings."""
    import mlflow

    mlflow.set_tracking_uri(mlflow_uri())
    mlflow.set_experiment(EXPERIMENT)


def runbase_client() -> tuple[runbase.Client, str]:
    """A client on a new store and a new run in it."""
    import runbase

    client = runbase.Client(runbase_path())
    experiment_id = client.create_experiment(EXPERIMENT)
    return client, client.create_run(experiment_id).info.run_id


def mlflow_client() -> tuple[mlflow.MlflowClient, str]:
    """A client on a new (migrated) store and a new run in it."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=mlflow_uri())
    experiment_id = client.create_experiment(EXPERIMENT)
    return client, client.create_run(experiment_id).info.run_id
