"""A sweep's parent run: creating the sweep, keeping its best trial, closing it when done.

The sweep's id is its parent run's id. Trials are child runs (``mlflow.parentRunId``) tagged
``runbase.sweep.id`` and ``runbase.sweep.trial``. The parent carries the sweep's settings as
params, its best value so far as the metric ``best_<metric>`` (one point per improvement, at the
number of trials finished then) and the best trial as tags (``runbase.sweep.best_trial``,
``best.<param>``); when the sweep is done, the best parameters become params too.
"""

from __future__ import annotations

import contextlib
import getpass
from typing import Any, Final

from runbase.client import Client
from runbase.entities import RunStatus
from runbase.errors import RunbaseError
from runbase.store.base import now_ms
from runbase.sweeps import _journal, _optuna
from runbase.sweeps._results import (
    NAME_TAG,
    ROLE_TAG,
    STATE_TAG,
    SWEEP_TAG,
    SweepReader,
    TrialInfo,
)
from runbase.sweeps._space import grid_points
from runbase.sweeps.spec import SweepSpec

__all__ = ["create_sweep", "finalize", "record_best"]

PARENT_TAG: Final = "mlflow.parentRunId"
BEST_TRIAL_TAG: Final = "runbase.sweep.best_trial"
BEST_RUN_TAG: Final = "runbase.sweep.best_run_id"
BEST_VALUE_TAG: Final = "runbase.sweep.best_value"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def create_sweep(spec: SweepSpec, client: Client, experiment_id: str | None = None) -> str:
    """Create the parent run, keep the spec, create the Optuna study, queue a grid; return the
    sweep id. Nothing is created when the spec's sampler or pruner options are wrong."""
    optuna = _optuna.load()
    _optuna.check(spec)
    if experiment_id is None:
        experiment_id = "0"
        if spec.experiment:
            found = client.get_experiment_by_name(spec.experiment)
            experiment_id = (
                found.experiment_id if found else client.create_experiment(spec.experiment)
            )
    parent = client.create_run(
        experiment_id,
        run_name=spec.name,
        tags={ROLE_TAG: "parent", NAME_TAG: spec.name, "mlflow.user": _user()},
    )
    sweep_id = parent.info.run_id
    client.set_tags(sweep_id, {SWEEP_TAG: sweep_id, STATE_TAG: "RUNNING"})
    settings: dict[str, Any] = {
        "sweep.method": spec.method,
        "sweep.metric": spec.metric.name,
        "sweep.goal": spec.metric.goal,
        "sweep.pruner": spec.pruner.type,
        "sweep.max_trials": spec.budget if spec.budget < 2**62 else "",
        "sweep.seed": "" if spec.seed is None else spec.seed,
    }
    settings |= {f"space.{p.name}": p.describe() for p in spec.parameters}
    client.log_params(sweep_id, settings)
    record = {
        "spec": spec.to_dict(),
        "experiment_id": experiment_id,
        "created": now_ms(),
        "tracking_uri": client.tracking_uri,
    }
    _journal.save_spec_record(client.store, sweep_id, record)
    storage = _journal.open_storage(client.store, sweep_id)
    with _optuna.tolerant(), _optuna.quiet():
        study = optuna.create_study(
            storage=storage, study_name=sweep_id, direction=spec.metric.goal
        )
        if spec.method == "grid":
            for point in grid_points(spec):
                study.enqueue_trial(point)
    try:
        import yaml

        client.log_text(sweep_id, yaml.safe_dump(spec.to_dict(), sort_keys=False), "sweep.yaml")
    except (RunbaseError, OSError):
        pass  # the spec is in the store; the artifact copy is for people
    return sweep_id


def record_best(
    client: Client, sweep_id: str, spec: SweepSpec, best: TrialInfo, finished: int
) -> None:
    """A trial just became the best: say so on the parent run. The metric's step is the number
    of trials finished by then, so its last point is the best, whatever order agents end in."""
    assert best.value is not None
    tags = {
        BEST_TRIAL_TAG: str(best.number),
        BEST_VALUE_TAG: repr(best.value),
        **{f"best.{k}": str(v) for k, v in best.params.items()},
    }
    if best.run_id:
        tags[BEST_RUN_TAG] = best.run_id
    client.set_tags(sweep_id, tags)
    client.log_metric(sweep_id, f"best_{spec.metric.name}", best.value, step=finished)


def finalize(client: Client, reader: SweepReader, status: str | None = None) -> bool:
    """Close the parent run when the sweep is done (or with ``status``, say KILLED when it was
    interrupted); return whether it was done. Safe to call from several agents."""
    trials = reader.frozen_trials()
    done = reader.finished(trials)
    sweep_id = reader.sweep_id
    if not done and status is None:
        return False
    best = reader.best(trials)
    if best is not None:
        finished = sum(1 for t in trials if t.state.is_finished())
        record_best(client, sweep_id, reader.spec, best, finished)
        if done:
            # A finished sweep resumed and finished again: the first record stands.
            with contextlib.suppress(RunbaseError):
                client.log_params(sweep_id, {f"best.{k}": v for k, v in best.params.items()})
    counts = reader.counts(trials)
    client.set_tags(
        sweep_id,
        {STATE_TAG: "FINISHED" if done else "INTERRUPTED"}
        | {f"runbase.sweep.{k.lower()}": str(v) for k, v in counts.items()},
    )
    client.set_terminated(sweep_id, RunStatus.FINISHED if done else (status or RunStatus.KILLED))
    return done
