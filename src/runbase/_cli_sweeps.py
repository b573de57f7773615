"""``runbase sweep run|resume|status|best|list``, ``runbase agent`` and ``runbase demo``."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click

from runbase.errors import RunbaseError

__all__ = ["agent", "demo", "sweep"]

_URI_HELP = (
    "Tracking store: a SQLite path, sqlite:///..., postgresql://... or a runbase server "
    "http(s)://host:port [env: RUNBASE_TRACKING_URI; default: ./runbase.db]"
)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RunbaseError as exc:
            raise click.ClickException(str(exc)) from exc


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def _uri(tracking_uri: str | None) -> str:
    from runbase.client import default_tracking_uri

    return tracking_uri or default_tracking_uri()


def _stop_on_sigterm() -> None:
    """SIGTERM stops like Ctrl-C: the current trial is left to be re-run, leases released."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


@click.group(cls=_Group)
def sweep() -> None:
    """Run hyperparameter sweeps and read their results.

    A sweep is described by a YAML spec (what to run, the parameter space, the method, the
    metric and its goal, a pruner, max_trials...; see `runbase.sweeps.spec`). Its trials are runs
    under one parent run, and agents coordinate through the store, so agents on other machines
    join with `runbase agent SWEEP_ID`.
    """


@sweep.command("run")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--parallel", "-p", type=click.IntRange(1), help="Agents on this machine.")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
@click.option("--no-progress", is_flag=True, help="No live progress line.")
@click.option("--log-dir", type=click.Path(file_okay=False), help="Where agents' logs go.")
def sweep_run(
    spec_file: str,
    parallel: int | None,
    tracking_uri: str | None,
    no_progress: bool,
    log_dir: str | None,
) -> None:
    """Create a sweep from SPEC_FILE and run it to the end with --parallel agents."""
    from runbase.sweeps import _coordinator, _optuna

    _optuna.quiet_logging()
    try:
        _coordinator.run(
            spec_file,
            tracking_uri=_uri(tracking_uri),
            parallel=parallel,
            progress=not no_progress,
            log_dir=log_dir,
        )
    except KeyboardInterrupt:
        sys.exit(130)


@sweep.command("resume")
@click.argument("sweep_id")
@click.option("--parallel", "-p", type=click.IntRange(1), help="Agents on this machine.")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
@click.option("--no-progress", is_flag=True, help="No live progress line.")
@click.option("--log-dir", type=click.Path(file_okay=False), help="Where agents' logs go.")
def sweep_resume(
    sweep_id: str,
    parallel: int | None,
    tracking_uri: str | None,
    no_progress: bool,
    log_dir: str | None,
) -> None:
    """Carry on with an interrupted sweep (SWEEP_ID: its id or name)."""
    from runbase.store import open_store
    from runbase.sweeps import _coordinator, _optuna, _results

    _optuna.quiet_logging()
    uri = _uri(tracking_uri)
    store = open_store(uri)
    try:
        sweep_id = _results.resolve_sweep_id(store, sweep_id)
    finally:
        store.close()
    try:
        _coordinator.resume(
            sweep_id, tracking_uri=uri, parallel=parallel, progress=not no_progress, log_dir=log_dir
        )
    except KeyboardInterrupt:
        sys.exit(130)


@contextlib.contextmanager
def _reader(tracking_uri: str | None, sweep_id: str) -> Iterator[Any]:
    from runbase.store import open_store
    from runbase.sweeps import _optuna, _results

    _optuna.quiet_logging()
    store = open_store(_uri(tracking_uri))
    try:
        yield _results.SweepReader(store, _results.resolve_sweep_id(store, sweep_id))
    finally:
        store.close()


@sweep.command("status")
@click.argument("sweep_id")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
@click.option("--trials", "-n", "shown", default=20, show_default=True, help="Trials to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep's summary as JSON.")
def sweep_status(sweep_id: str, tracking_uri: str | None, shown: int, as_json: bool) -> None:
    """Progress of a sweep: trial counts, the best trial, agents, importance, latest trials."""
    with _reader(tracking_uri, sweep_id) as reader:
        _status(reader, shown, as_json)


def _status(reader: Any, shown: int, as_json: bool) -> None:
    import msgspec

    info = reader.info()
    if as_json:
        click.echo(msgspec.json.encode(info).decode())
        return
    c = info.counts
    state = "finished" if info.finished else "in progress"
    click.echo(f"Sweep {info.sweep_id}  {info.name}  ({state})")
    click.echo(
        f"  {info.method}, {info.goal} {info.metric}, pruner {info.pruner}, "
        f"budget {info.budget if info.budget is not None else 'until the timeout'}"
    )
    click.echo(
        f"  {c['COMPLETE']} complete, {c['PRUNED']} pruned, {c['FAIL']} failed, "
        f"{c['RUNNING']} running, {c['WAITING']} queued"
    )
    alive = [a.agent for a in info.agents if a.alive]
    click.echo(f"  agents: {', '.join(alive) if alive else 'none running'}")
    if info.best is not None:
        click.echo(
            f"  best: trial {info.best.number}, {info.metric} = {_fmt(info.best.value)}, "
            f"run {info.best.run_id}"
        )
    importance = reader.importance()
    if importance:
        shown_imp = ", ".join(f"{k} {v:.2f}" for k, v in importance.items())
        click.echo(f"  parameter importance: {shown_imp}")
    trials = sorted(reader.trials(), key=lambda t: t.number)[-shown:]
    if trials:
        names = list(dict.fromkeys(k for t in trials for k in t.params))
        rows = [
            [t.number, t.state, t.value, t.last_step, _fmt(t.duration and round(t.duration, 1))]
            + [t.params.get(k) for k in names]
            + [t.run_id]
            for t in trials
        ]
        click.echo("")
        click.echo(_table(["trial", "state", info.metric, "step", "s", *names, "run"], rows))


@sweep.command("best")
@click.argument("sweep_id")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the best trial as JSON.")
def sweep_best(sweep_id: str, tracking_uri: str | None, as_json: bool) -> None:
    """The best trial of a sweep: its value, parameters and run."""
    import msgspec

    with _reader(tracking_uri, sweep_id) as reader:
        best = reader.best()
        metric = reader.spec.metric.name
    if best is None:
        raise click.ClickException("No trial has completed yet.")
    if as_json:
        click.echo(msgspec.json.encode(best).decode())
        return
    click.echo(f"Trial {best.number}: {metric} = {_fmt(best.value)}")
    click.echo(f"  run {best.run_id}")
    for key, value in best.params.items():
        click.echo(f"  {key} = {value}")


@sweep.command("list")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
def sweep_list(tracking_uri: str | None) -> None:
    """Sweeps in the store, newest first."""
    from runbase.store import open_store
    from runbase.sweeps import _results

    store = open_store(_uri(tracking_uri))
    try:
        found = _results.find_sweep_runs(store)
    finally:
        store.close()
    rows = [
        [
            run.info.run_id,
            run.data.tags.get(_results.NAME_TAG, run.info.run_name),
            run.data.tags.get(_results.STATE_TAG, ""),
            run.info.experiment_id,
            run.data.tags.get("runbase.sweep.best_value", ""),
        ]
        for run in found
    ]
    click.echo(_table(["sweep", "name", "state", "experiment", "best"], rows))


@click.command("agent")
@click.argument("sweep_id")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
@click.option("--max-trials", type=click.IntRange(1), help="Stop after this many trials.")
@click.option("--worker", type=click.IntRange(0), default=0, help="Varies the sampler's seed.")
@click.option("--workdir", type=click.Path(file_okay=False), help="Where trial code runs.")
def agent(
    sweep_id: str,
    tracking_uri: str | None,
    max_trials: int | None,
    worker: int,
    workdir: str | None,
) -> None:
    """Join a sweep and run its trials until it is done (SWEEP_ID: its id or name).

    Start as many as you like, on any machine that reaches the store (a runbase server or the
    PostgreSQL database). An agent stopped with Ctrl-C or SIGTERM leaves its current trial to be
    run again."""
    from runbase.store import open_store
    from runbase.sweeps import _optuna, _results
    from runbase.sweeps._agent import Agent

    _optuna.quiet_logging()
    _stop_on_sigterm()
    uri = _uri(tracking_uri)
    store = open_store(uri)
    try:
        sweep_id = _results.resolve_sweep_id(store, sweep_id)
    finally:
        store.close()
    try:
        Agent(
            sweep_id, tracking_uri=uri, worker=worker, max_trials=max_trials, workdir=workdir
        ).run()
    except KeyboardInterrupt:
        click.echo("agent stopped", err=True)
        sys.exit(130)


@click.command("demo")
@click.option("--tracking-uri", envvar="RUNBASE_TRACKING_URI", help=_URI_HELP)
@click.option("--trials", default=24, show_default=True, type=click.IntRange(2))
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(2))
@click.option("--parallel", "-p", default=2, show_default=True, type=click.IntRange(1))
@click.option("--no-ui", is_flag=True, help="Do not open the UI at the end.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
def demo(
    tracking_uri: str | None,
    trials: int,
    epochs: int,
    parallel: int,
    no_ui: bool,
    port: int,
) -> None:
    """The tour: a real sweep on scikit-learn's handwritten digits, then the UI.

    TPE with median pruning over a small neural network's size, learning rate, batch size and
    weight decay; each trial logs per-epoch losses and accuracies, per-class precision/recall/F1,
    a confusion matrix, misclassified digits by step and the dataset fingerprint. The best model
    is logged, registered as `digits-mlp` and given the alias `champion`."""
    from runbase import demo as demo_module

    uri = _uri(tracking_uri)
    result = demo_module.run_demo(uri, trials=trials, epochs=epochs, parallel=parallel)
    click.echo(result.text())
    if no_ui:
        click.echo(f"See it in the UI: runbase ui --tracking-uri {uri}")
        return
    try:
        from runbase._cli_ui import ui
    except ImportError:
        click.echo(f"See it in the UI: runbase ui --tracking-uri {uri}")
        return
    click.get_current_context().invoke(
        ui, tracking_uri=uri, port=port, page=f"/sweeps/{result.sweep_id}"
    )
