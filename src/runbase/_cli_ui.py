"""``runbase ui``: the web UI over a local store, in this process, opening a browser."""

from __future__ import annotations

import os
import threading
import time
import webbrowser
from pathlib import Path
from urllib.request import url2pathname

import click

__all__ = ["ui"]


def _artifact_folder(store_uri: str) -> str:
    """Where runs logged by the embedded client keep their artifacts for this store."""
    from urllib.parse import urlsplit

    from runbase.store.sql._store import default_artifact_root

    return url2pathname(urlsplit(default_artifact_root(store_uri)).path)


def _open_when_up(server: object, url: str) -> None:
    deadline = time.monotonic() + 30
    while not getattr(server, "started", False):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    webbrowser.open(url)


@click.command("ui")
@click.option(
    "--tracking-uri",
    envvar="RUNBASE_TRACKING_URI",
    help="Store to show: a SQLite path, sqlite:///... or postgresql://...; an http(s):// runbase "
    "server is opened in the browser as it is [env: RUNBASE_TRACKING_URI; default: ./runbase.db]",
)
@click.option(
    "--artifacts-destination",
    help="Folder of the artifacts to show [default: runbase-artifacts next to the SQLite file, "
    "where the embedded client writes them]",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--no-browser", is_flag=True, help="Do not open a browser; just serve.")
@click.option(
    "--page",
    default="",
    metavar="PATH",
    help="Open the browser on this page of the UI, e.g. /sweeps/SWEEP_ID or /runs/RUN_ID "
    "[default: the experiments list]",
)
def ui(
    tracking_uri: str | None,
    artifacts_destination: str | None,
    host: str,
    port: int,
    no_browser: bool,
    page: str,
) -> None:
    """Serve the web UI on a local store and open it in a browser.

    Experiments, the runs table (filter, sort, columns, grouping), run pages (charts, images by
    step, artifacts, datasets, models), the compare view, the model registry and sweeps. The
    same UI is served by `runbase server` at its root URL. Stop with Ctrl+C.
    """
    import uvicorn

    from runbase.client import default_tracking_uri
    from runbase.server import app
    from runbase.store import is_remote, resolve_uri

    store_uri = resolve_uri(tracking_uri or default_tracking_uri())
    if is_remote(store_uri):
        click.echo(f"{store_uri} is a runbase server: it serves the UI itself.")
        if not no_browser:
            webbrowser.open(store_uri)
        return
    destination = artifacts_destination or _artifact_folder(store_uri)
    if "://" not in destination:
        destination = os.path.abspath(destination)
    application = app.create_app(store_uri, destination)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    config = uvicorn.Config(application, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    url = f"http://{shown_host}:{port}/"
    shown = url + ("#/" + page.lstrip("#/") if page else "")
    if not (Path(app.__file__).parent / "_ui_dist" / "index.html").is_file():
        click.echo("Note: this install has no compiled web UI; the page explains how to build it.")
    click.echo(f"runbase UI on {url} (store {store_uri}); Ctrl+C stops it.")
    if page:
        click.echo(f"Opening {shown}")
    if not no_browser:
        threading.Thread(target=_open_when_up, args=(server, shown), daemon=True).start()
    server.run()
