"""``runbase.report`` and ``runbase.should_prune``: what training code calls inside a sweep trial.

::

    for epoch in range(epochs):
        ...
        runbase.report(val_loss, step=epoch)    # the sweep's metric at this step
        if runbase.should_prune():              # the pruner says this trial is hopeless
            break

Inside a trial the agent runs in its own process (a sweep ``function``), both talk to the Optuna
trial directly. Inside a trial's ``command`` (another process), ``report`` logs the metric to the
trial's run, where the agent reads it, and ``should_prune`` reads the verdict the agent leaves on
the run. Points of the sweep's metric logged with ``runbase.log_metric`` count as reports too.
Outside a sweep, ``report`` logs the value as a metric of the active run (key ``objective``
unless given) and ``should_prune`` is always False, so training code runs unchanged on its own.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    import optuna

    from runbase.client import Client

__all__ = ["report", "should_prune", "sweep_metric", "trial_params"]

#: Set by the agent on a trial's run when its pruner decides to stop it.
PRUNE_TAG: Final = "runbase.sweep.prune"
ENV_RUN_ID: Final = "RUNBASE_RUN_ID"
ENV_METRIC: Final = "RUNBASE_SWEEP_METRIC"
ENV_PARAMS: Final = "RUNBASE_TRIAL_PARAMS"
ENV_SWEEP: Final = "RUNBASE_SWEEP_ID"

_local = threading.local()


class _Context(Protocol):
    metric: str

    def report(self, value: float, step: int) -> None: ...
    def should_prune(self) -> bool: ...
    @property
    def params(self) -> dict[str, Any]: ...


class TrialContext:
    """An Optuna trial run in this process: reports go straight to it."""

    def __init__(
        self,
        trial: optuna.Trial,
        run_id: str,
        metric: str,
        client: Client,
        params: Mapping[str, Any],
    ) -> None:
        self.trial = trial
        self.run_id = run_id
        self.metric = metric
        self.client = client
        self._params = dict(params)
        self.reported: set[int] = set()
        self.pruned = False
        self._lock = threading.Lock()

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def report(self, value: float, step: int) -> None:
        value = float(value)
        self.client.log_metric(self.run_id, self.metric, value, step=step)
        with self._lock:
            self._report(value, step)

    def _report(self, value: float, step: int) -> None:
        if step in self.reported or isinstance(step, bool) or step < 0:
            return
        self.reported.add(step)
        if math.isfinite(value):
            self.trial.report(value, step)

    def sync(self) -> None:
        """Report the points of the sweep's metric logged on the run since the last sync."""
        cols = self.client.get_metric_arrays(self.run_id, self.metric)
        with self._lock:
            for step, value in zip(cols.steps.tolist(), cols.values.tolist(), strict=True):
                self._report(value, step)

    def should_prune(self) -> bool:
        self.sync()
        with self._lock:
            if self.reported and self.trial.should_prune():
                self.pruned = True
        return self.pruned


class _EnvContext:
    """A trial's command, in the process the agent started: the agent decides, the run carries
    the verdict."""

    def __init__(self, run_id: str, metric: str, params: dict[str, Any]) -> None:
        self.run_id = run_id
        self.metric = metric
        self._params = params

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    def report(self, value: float, step: int) -> None:
        from runbase import _fluent

        _fluent.log_metric(self.metric, value, step=step, synchronous=True, run_id=self.run_id)

    def should_prune(self) -> bool:
        from runbase import _fluent

        run = _fluent.get_run(self.run_id)
        return run.data.tags.get(PRUNE_TAG) == "true"


def activate(context: TrialContext | None) -> None:
    """Make ``context`` this thread's trial (None: no trial)."""
    _local.context = context


def _context() -> _Context | None:
    context: _Context | None = getattr(_local, "context", None)
    if context is not None:
        return context
    run_id, metric = os.environ.get(ENV_RUN_ID), os.environ.get(ENV_METRIC)
    if run_id and metric and os.environ.get(ENV_SWEEP):
        params = json.loads(os.environ.get(ENV_PARAMS) or "{}")
        return _EnvContext(run_id, metric, params)
    return None


def report(value: float, step: int, key: str | None = None) -> None:
    """Report the sweep's metric at a training step (an epoch): the pruner judges the trial on
    these. Outside a sweep, log it as metric ``key`` (default ``objective``) of the active run."""
    context = _context()
    if context is None or (key is not None and key != context.metric):
        from runbase import _fluent

        _fluent.log_metric(key or "objective", value, step=step)
        return
    context.report(value, step)


def should_prune() -> bool:
    """Whether the sweep's pruner wants this trial stopped now; always False outside a sweep."""
    context = _context()
    return False if context is None else context.should_prune()


def sweep_metric() -> str | None:
    """The name of the metric the current trial is judged on, or None outside a sweep."""
    context = _context()
    return None if context is None else context.metric


def trial_params() -> dict[str, Any]:
    """The current trial's parameters (dotted names), or ``{}`` outside a sweep."""
    context = _context()
    return {} if context is None else context.params
