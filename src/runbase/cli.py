"""The ``runbase`` command line."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import click

from runbase.entities import Run, ViewType
from runbase.errors import RunbaseError
from runbase.store import Store, open_store

_URI_HELP = (
    "Tracking store: a SQLite path, sqlite:///... or postgresql://... "
    "[env: RUNBASE_TRACKING_URI; default: ./runbase.db]"
)
_VIEWS = click.Choice(sorted(ViewType.VALUES), case_sensitive=False)


def _open(uri: str | None) -> Store:
    from runbase.client import default_tracking_uri

    return open_store(uri or default_tracking_uri())


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _time(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


class _Group(click.Group):
    """Turns runbase errors into one clear line and exit status 1, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RunbaseError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.version_option(package_name="runbase")
def main() -> None:
    """runbase: a fast, local-first experiment tracker, compatible with MLflow.

    Runs are logged from Python (import runbase) to a SQLite file (./runbase.db by default) or a
    PostgreSQL database; these commands inspect and maintain that store.
    """


@main.group(cls=_Group)
def experiments() -> None:
    """List experiments."""


@experiments.command("list")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
@click.option("--view", type=_VIEWS, default=ViewType.ACTIVE_ONLY, show_default=True)
def experiments_list(tracking_uri: str | None, view: str) -> None:
    """List experiments with their ids and creation times."""
    store = _open(tracking_uri)
    rows = [
        (e.experiment_id, e.name, e.lifecycle_stage, _time(e.creation_time), e.artifact_location)
        for e in store.search_experiments(view.upper())
    ]
    click.echo(_table(["id", "name", "stage", "created", "artifact location"], rows))


@main.group(cls=_Group)
def runs() -> None:
    """List, filter and inspect runs."""


@runs.command("list")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
@click.option(
    "--experiment",
    "-e",
    "experiment",
    multiple=True,
    help="Experiment name or id (repeatable). Default: all active experiments.",
)
@click.option(
    "--filter",
    "-f",
    "filter_string",
    default="",
    help="MLflow filter, e.g. \"params.batch_size = '24' and metrics.val_map > 0.7\".",
)
@click.option(
    "--order-by",
    "-o",
    multiple=True,
    help="e.g. 'metrics.val_map DESC' (repeatable; metrics.<key>.min/.max work too).",
)
@click.option("--max-results", "-n", default=50, show_default=True, type=click.IntRange(1, 50_000))
@click.option("--view", type=_VIEWS, default=ViewType.ACTIVE_ONLY, show_default=True)
@click.option("--columns", "-c", multiple=True, help="Extra columns: metrics.X, params.X, tags.X.")
def runs_list(
    tracking_uri: str | None,
    experiment: tuple[str, ...],
    filter_string: str,
    order_by: tuple[str, ...],
    max_results: int,
    view: str,
    columns: tuple[str, ...],
) -> None:
    """List runs matching a filter, newest first unless --order-by says otherwise."""
    store = _open(tracking_uri)
    exp_ids = [_experiment_id(store, e) for e in experiment] or [
        e.experiment_id for e in store.search_experiments()
    ]
    page = store.search_runs(exp_ids, filter_string, view.upper(), max_results, list(order_by))
    headers = ["run_id", "name", "status", "experiment", "started", *columns]
    rows = [
        (
            r.info.run_id,
            r.info.run_name,
            r.info.status,
            r.info.experiment_id,
            _time(r.info.start_time),
            *(_column(r, c) for c in columns),
        )
        for r in page.runs
    ]
    click.echo(_table(headers, rows))
    if page.next_page_token:
        click.echo(f"(more than {max_results} runs; raise --max-results to see more)")


def _experiment_id(store: Store, name_or_id: str) -> str:
    found = store.get_experiment_by_name(name_or_id)
    if found is not None:
        return found.experiment_id
    if name_or_id.isdigit():
        return store.get_experiment(name_or_id).experiment_id
    raise click.BadParameter(f"no experiment named {name_or_id!r}", param_hint="--experiment")


def _column(run: Run, column: str) -> Any:
    kind, _, key = column.partition(".")
    if kind in ("metrics", "metric"):
        return run.data.metrics.get(key)
    if kind in ("params", "param"):
        return run.data.params.get(key)
    if kind in ("tags", "tag"):
        return run.data.tags.get(key)
    raise click.BadParameter(
        f"{column!r}: use metrics.X, params.X or tags.X", param_hint="--columns"
    )


@runs.command("show")
@click.argument("run_id")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
def runs_show(run_id: str, tracking_uri: str | None) -> None:
    """Show one run: info, params, metric summaries (last/min/max), tags and datasets."""
    run = _open(tracking_uri).get_run(run_id)
    info = run.info
    click.echo(f"Run {info.run_id}  {info.run_name}")
    click.echo(f"  experiment {info.experiment_id}   status {info.status}   {info.lifecycle_stage}")
    click.echo(f"  started {_time(info.start_time)}   ended {_time(info.end_time)}")
    click.echo(f"  artifacts {info.artifact_uri}\n")
    if run.data.params:
        click.echo(_table(["param", "value"], sorted(run.data.params.items())) + "\n")
    if run.data.summaries:
        summaries = [
            (s.key, s.last, s.min, s.max, s.last_step, s.count) for s in run.data.summaries.values()
        ]
        headers = ["metric", "last", "min", "max", "last step", "points"]
        click.echo(_table(headers, summaries) + "\n")
    if run.data.tags:
        click.echo(_table(["tag", "value"], sorted(run.data.tags.items())) + "\n")
    if run.inputs.dataset_inputs:
        inputs = [
            (i.dataset.name, i.dataset.digest, i.context or "", i.dataset.source)
            for i in run.inputs.dataset_inputs
        ]
        click.echo(_table(["dataset", "digest", "context", "source"], inputs))


@main.command("sync")
@click.option(
    "--tracking-uri",
    envvar="RUNBASE_TRACKING_URI",
    required=True,
    help="The runbase server (http(s)://host:port) whose spooled writes to send "
    "[env: RUNBASE_TRACKING_URI].",
)
@click.option(
    "--spool-dir",
    envvar="RUNBASE_SPOOL_DIR",
    help="Where spools live [env: RUNBASE_SPOOL_DIR; default: ~/.cache/runbase/spool].",
)
def sync(tracking_uri: str, spool_dir: str | None) -> None:
    """Send what clients spooled while the server was down (and exited before it came back).

    Spools of clients still running are left to them: they send their own."""
    from runbase._spool import replay_orphans, server_directory, spool_root
    from runbase.store import is_remote, resolve_uri

    if not is_remote(tracking_uri):
        raise click.BadParameter(
            f"{tracking_uri!r} is not a runbase server; only http(s):// URIs have spools",
            param_hint="--tracking-uri",
        )
    url = resolve_uri(tracking_uri)
    directory = server_directory(spool_root(spool_dir), url)
    before = set(directory.glob("*.spool"))
    store = open_store(url)
    try:
        results = replay_orphans(store, directory, url)
    finally:
        store.close()
    held = len(before - {path for path, _ in results})
    sent = sum(r.sent for _, r in results)
    points = sum(r.points for _, r in results)
    click.echo(f"Sent {sent} spooled writes ({points} metric points) to {url}.")
    for path, result in results:
        for run_id, error in result.rejected:
            click.echo(f"Rejected by the server (kept in {path}): run {run_id}: {error}")
    if held > 0:
        click.echo(f"{held} spool(s) in {directory} belong to running clients, which send them.")
    failed = [(p, r) for p, r in results if r.error is not None]
    if failed:
        path, result = failed[0]
        raise click.ClickException(
            f"{sum(r.remaining for _, r in failed)} writes are still waiting: {result.error}"
        )


@main.group(cls=_Group)
def db() -> None:
    """Maintain the store's database."""


@db.command("upgrade")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
def db_upgrade(tracking_uri: str | None) -> None:
    """Bring the database schema to this version of runbase (safe to run twice)."""
    from runbase.client import default_tracking_uri
    from runbase.store import upgrade_schema

    revision = upgrade_schema(tracking_uri or default_tracking_uri())
    click.echo(f"Schema is at revision {revision}.")


@main.command("server")
@click.option(
    "--backend-store-uri",
    envvar="RUNBASE_TRACKING_URI",
    help="Store to serve: a SQLite path, sqlite:///... or postgresql://... "
    "[env: RUNBASE_TRACKING_URI; default: ./runbase.db]",
)
@click.option(
    "--artifacts-destination",
    default="./runbase-artifacts",
    show_default=True,
    help="Folder, file:// URI or s3://bucket/prefix where the server keeps the artifacts it "
    "proxies (S3 endpoint: MLFLOW_S3_ENDPOINT_URL, or boto3's AWS_ENDPOINT_URL_S3; credentials "
    "from boto3's usual chain).",
)
@click.option(
    "--serve-artifacts/--no-serve-artifacts",
    default=True,
    show_default=True,
    help="Proxy artifact uploads and downloads; without it clients write to the destination "
    "themselves.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Worker processes; each opens its own connections to the store.",
)
@click.option(
    "--auth-tokens-file",
    envvar="RUNBASE_SERVER_AUTH_TOKENS_FILE",
    type=click.Path(dir_okay=False),
    help="Require a token on every route but /health: a file with one token per line (16+ "
    "characters). Clients send it as 'Authorization: Bearer' (RUNBASE_TRACKING_TOKEN, "
    "MLFLOW_TRACKING_TOKEN) or as the HTTP Basic password [env: RUNBASE_SERVER_AUTH_TOKENS_FILE]",
)
def server(
    backend_store_uri: str | None,
    artifacts_destination: str,
    serve_artifacts: bool,
    host: str,
    port: int,
    workers: int,
    auth_tokens_file: str | None,
) -> None:
    """Serve MLflow's REST API (the mlflow client logs to it), its artifact proxy, runbase's
    own API and the web UI (at /), over one store. Without --auth-tokens-file anyone who
    reaches the port can read and write: keep --host on 127.0.0.1 or a trusted network."""
    import os

    import uvicorn

    from runbase.client import default_tracking_uri
    from runbase.server import app

    store_uri = backend_store_uri or default_tracking_uri()
    if "://" not in artifacts_destination:
        artifacts_destination = os.path.abspath(artifacts_destination)
    # Create the schema once and fail here on a bad URI, before any worker starts.
    app.prepare_store(store_uri, artifacts_destination, serve_artifacts=serve_artifacts)
    # Every worker builds its own app from these (uvicorn's factory mode).
    os.environ[app.ENV_BACKEND_STORE_URI] = store_uri
    os.environ[app.ENV_ARTIFACTS_DESTINATION] = artifacts_destination
    os.environ[app.ENV_SERVE_ARTIFACTS] = "true" if serve_artifacts else "false"
    if auth_tokens_file:
        from runbase.server._auth import read_tokens

        read_tokens(auth_tokens_file)  # a missing or weak tokens file fails here, once
        os.environ[app.ENV_AUTH_TOKENS_FILE] = os.path.abspath(auth_tokens_file)
    else:
        os.environ.pop(app.ENV_AUTH_TOKENS_FILE, None)
    from runbase.server._protocol import NoDelayH11Protocol

    uvicorn.run(
        "runbase.server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=NoDelayH11Protocol,
    )


def _register_ui() -> None:
    from runbase._cli_ui import ui

    main.add_command(ui)


_register_ui()


def _register_sweeps() -> None:
    from runbase._cli_sweeps import agent, demo, sweep

    main.add_command(sweep)
    main.add_command(agent)
    main.add_command(demo)


_register_sweeps()


@main.command("gc")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
@click.option(
    "--older-than",
    metavar="AGE",
    help="Only runs deleted more than AGE ago: 30d, 12h, 90m, 45s, 2w [default: every deleted run]",
)
@click.option("--run-id", "run_ids", multiple=True, help="Only this deleted run; repeatable.")
@click.option("--dry-run", is_flag=True, help="List what would be purged; change nothing.")
def gc(
    tracking_uri: str | None, older_than: str | None, run_ids: tuple[str, ...], dry_run: bool
) -> None:
    """Purge deleted runs for good: their artifacts, then everything the store holds of them.

    Deleting a run only marks it (it can be restored); gc frees the space. A run whose
    artifacts cannot be removed is kept and reported; run gc again to retry."""
    from runbase import _gc
    from runbase.client import default_tracking_uri

    uri = tracking_uri or default_tracking_uri()
    age = None if older_than is None else _gc.parse_age(older_than)
    store = _open(uri)
    try:
        summary = _gc.collect(
            store,
            uri,
            older_than=age,
            run_ids=list(run_ids) or None,
            dry_run=dry_run,
            say=click.echo,
        )
    finally:
        store.close()
    click.echo(summary.text())
    if summary.kept:
        raise SystemExit(1)


def _register_import() -> None:
    from runbase._cli_import import import_group

    main.add_command(import_group)


_register_import()
