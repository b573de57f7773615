"""``runbase import mlflow SOURCE``: bring MLflow experiments and runs into a runbase store."""

from __future__ import annotations

import click

__all__ = ["import_group"]


@click.group("import")
def import_group() -> None:
    """Bring runs logged with another tracker into this store."""


@import_group.command("mlflow")
@click.argument("source")
@click.option(
    "--tracking-uri",
    envvar="RUNBASE_TRACKING_URI",
    help="The runbase store to import into: a SQLite path, sqlite:///..., postgresql://... or a "
    "runbase server [env: RUNBASE_TRACKING_URI; default: ./runbase.db]",
)
@click.option(
    "--experiment",
    "-e",
    "experiments",
    multiple=True,
    help="Only this experiment (name or id); repeatable [default: all]",
)
@click.option(
    "--include-deleted", is_flag=True, help="Also deleted experiments and runs (kept deleted)."
)
@click.option("--no-artifacts", is_flag=True, help="Leave the artifact files behind.")
@click.option(
    "--artifacts-root",
    type=click.Path(file_okay=False),
    help="Where a database's mlflow-artifacts:/ files are on disk [default: mlartifacts next to "
    "a SQLite file]",
)
def import_mlflow_command(
    source: str,
    tracking_uri: str | None,
    experiments: tuple[str, ...],
    include_deleted: bool,
    no_artifacts: bool,
    artifacts_root: str | None,
) -> None:
    """Import from MLflow: SOURCE is an mlruns folder, an MLflow database (mlflow.db,
    sqlite:///..., postgresql://...) or an MLflow server (http://host:5000).

    Copies experiments and runs — name, user, times, status, params, tags, every metric point,
    dataset inputs, artifacts — and rewrites parent links to the new run ids. The source is
    only read. Running it again skips the runs already imported and redoes any run an
    interrupted import left unfinished. Logged models, the registry and traces are not imported.
    """
    from runbase.mlflow_import import import_mlflow

    summary = import_mlflow(
        source,
        tracking_uri=tracking_uri,
        experiments=experiments or None,
        include_deleted=include_deleted,
        artifacts=not no_artifacts,
        artifacts_root=artifacts_root,
        say=click.echo,
    )
    click.echo(summary.text())
