"""Fresh stores for each tool, opened and migrated before anything is timed.

The worker runs every measurement with a new temporary folder as its working directory, so both
tools keep their database and artifacts there and nothing leaks between measurements.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import mlflow

    import runbase

EXPERIMENT = "bench"


def runbase_path() -> str:
    return str(Path.cwd() / "runbase.db")


def mlflow_uri() -> str:
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


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
