"""An agent: takes trials of a sweep one after another until the sweep is done.

Any number of agents, on any machines that reach the store, can work on one sweep: ``runbase
agent SWEEP_ID`` starts one. Each trial is taken through Optuna's journal, where taking a queued
trial (a grid point, or a retry) is a race exactly one agent wins. New trials stay within the
budget: when few are left, agents take the ``ask`` lease while they create one, so two agents
never create the last trial twice.
"""

from __future__ import annotations

import logging
import os
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from runbase import _fluent
from runbase.client import Client
from runbase.entities import RunStatus
from runbase.errors import InvalidInputError, NotFoundError, RunbaseError
from runbase.store import resolve_uri
from runbase.sweeps import _journal, _optuna, _trial, report
from runbase.sweeps._leases import Heartbeat, Reaper
from runbase.sweeps._results import (
    ERROR_ATTR,
    OWNER_ATTR,
    RETRY_OF_ATTR,
    STATE_TAG,
    SWEEP_TAG,
    TRIAL_TAG,
    SweepReader,
    trial_info,
)
from runbase.sweeps._space import suggest
from runbase.sweeps._sweep import PARENT_TAG, finalize, record_best

__all__ = ["Agent", "AgentResult"]

_log = logging.getLogger("runbase.sweeps")

_ASK_KEY: Final = "ask"
_STALENESS: Final = 0.25
_WAIT: Final = 0.5
_ID_SAFE: Final = re.compile(r"[^A-Za-z0-9_.:\-]")


def new_agent_id() -> str:
    host = _ID_SAFE.sub("-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def fluent_client(tracking_uri: str | None) -> Client:
    """The module-level verbs' client, pointed at ``tracking_uri``: function trials log through
    the module-level verbs, so the agent shares their client."""
    if tracking_uri is not None and resolve_uri(tracking_uri) != resolve_uri(
        _fluent.get_tracking_uri()
    ):
        _fluent.set_tracking_uri(tracking_uri)
    return _fluent.current_client()


@dataclass
class AgentResult:
    agent_id: str
    trials: dict[int, str] = field(default_factory=dict)  # number → final state
    sweep_finished: bool = False


class Agent:
    """Runs trials of one sweep. ``function`` stands in for the spec's function (required when
    the spec's function is a Python object); ``worker`` varies the sampler's seed."""

    def __init__(
        self,
        sweep_id: str,
        *,
        tracking_uri: str | None = None,
        function: Callable[..., Any] | None = None,
        worker: int = 0,
        max_trials: int | None = None,
        workdir: str | None = None,
        out: TextIO | None = None,
        agent_id: str | None = None,
    ) -> None:
        self.client = fluent_client(tracking_uri)
        self.store = self.client.store
        self.sweep_id = sweep_id
        self.record = _journal.load_spec_record(self.store, sweep_id)
        self.spec = _journal.spec_of(self.record)
        self.experiment_id = str(self.record["experiment_id"])
        self.agent_id = agent_id or new_agent_id()
        self.max_trials = max_trials
        self.workdir = workdir
        self.out = out
        self._function = function
        if self.spec.command is None and function is None and self.record["spec"].get("in_process"):
            raise InvalidInputError(
                f"Sweep {sweep_id} runs a Python function object of the process that "
                "started it; only that process can run its trials"
            )
        self._stop = threading.Event()
        self._scope = _journal.scope(sweep_id)
        optuna = _optuna.load()
        self._optuna = optuna
        self._index = _journal.JournalIndex(maximize=self.spec.metric.goal == "maximize")
        # Reads of the study may be a little stale (at most _STALENESS s) between the points
        # where freshness matters, which refresh it: see StoreJournalBackend.
        self._backend = _journal.StoreJournalBackend(
            self.store, _journal.study_journal(sweep_id), self._index, _STALENESS
        )
        self._storage = _journal.open_storage(self.store, sweep_id, self._backend)
        existing = len(self._index.states)
        seed = None
        if self.spec.seed is not None:
            seed = random.Random(f"{self.spec.seed}:{worker}:{existing}").randrange(2**31)
        self.study = _journal.load_study(
            self._storage,
            sweep_id,
            _optuna.make_sampler(self.spec, seed),
            _optuna.make_pruner(self.spec),
        )
        self.reaper = Reaper(self.store, sweep_id, self.spec, self.agent_id, self._on_reaped)
        self._live_agents = 1
        self._started = time.monotonic()

    # -- the loop ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish the current trial, then stop."""
        self._stop.set()

    def run(self) -> AgentResult:
        result = AgentResult(self.agent_id)
        heartbeat = Heartbeat(
            self.store, self._scope, self.agent_id, self.spec.heartbeat_timeout, self._tick
        )
        heartbeat.start()
        self._say(f"agent {self.agent_id} joined sweep {self.sweep_id} ({self.spec.name})")
        try:
            while not self._stop.is_set():
                if self.max_trials is not None and len(result.trials) >= self.max_trials:
                    break
                trial = self._next_trial()
                if trial is None:
                    if not self._others_running():
                        break
                    self.reaper.reap()
                    self._stop.wait(_WAIT)
                    continue
                number, state = self._run_trial(trial)
                result.trials[number] = state
        finally:
            heartbeat.stop()
        self._backend.refresh()  # the end of the sweep is judged on the whole journal
        reader = SweepReader(self.store, self.sweep_id, self._storage)
        result.sweep_finished = finalize(self.client, reader)
        self._say(
            f"agent {self.agent_id} ran {len(result.trials)} trials"
            + ("; the sweep is finished" if result.sweep_finished else "")
        )
        return result

    def _tick(self) -> None:
        leases = self.store.list_leases(self._scope)
        self._live_agents = sum(
            1 for lease in leases if lease.key.startswith("agent:") and not lease.expired
        )
        self.reaper.reap()

    def _expired(self) -> bool:
        timeout = self.spec.timeout
        return timeout is not None and time.monotonic() - self._started > timeout

    def _sync(self) -> None:
        """Read what the journal gained (Optuna reads it before any question to the study)."""
        self._backend.refresh()
        self._storage.get_study_directions(self.study._study_id)

    def _others_running(self) -> bool:
        self._sync()
        states = self._index.states
        return _journal._RUNNING in states or bool(self._index.waiting)

    # -- taking a trial ------------------------------------------------------------------------
    def _budget_left(self) -> tuple[int, list[int]]:
        """Trials the budget still allows, and the queued trials' ids: O(1), from the index."""
        self._sync()
        index = self._index
        used = len(index.states) - index.retries
        return self.spec.budget - used, sorted(index.waiting)

    def _next_trial(self) -> Any:
        remaining, waiting = self._budget_left()
        if waiting:
            trial = self._pop(waiting)
            if trial is not None:
                return trial
            remaining, waiting = self._budget_left()
        if remaining <= 0 or self._expired():
            return None
        if remaining > 4 * max(1, self._live_agents) + 4:
            return self._ask()
        # Near the end of the budget: one agent at a time counts and creates.
        deadline = time.monotonic() + max(self.spec.heartbeat_timeout, 5.0) * 2
        while not self.store.acquire_lease(self._scope, _ASK_KEY, self.agent_id, 30):
            if time.monotonic() > deadline or self._stop.is_set():
                return None
            time.sleep(0.02)
        try:
            remaining, waiting = self._budget_left()
            if waiting:
                return self._pop(waiting)
            return self._ask() if remaining > 0 else None
        finally:
            self.store.release_lease(self._scope, _ASK_KEY, self.agent_id)

    def _ask(self) -> Any:
        """A new trial: ``study.ask()`` without its scan of every trial for queued ones (the
        index knows there are none), which costs a millisecond per 10,000 trials."""
        trial_id = self._storage.create_new_trial(self.study._study_id)
        self.study._thread_local.cached_all_trials = None
        with _optuna.tolerant():
            return self._optuna.Trial(self.study, trial_id)

    def _pop(self, waiting: list[int]) -> Any:
        """Take a queued trial, never creating one (what ``study.ask`` would do if another agent
        took the last queued trial first)."""
        state = self._optuna.trial.TrialState
        for trial_id in waiting:
            try:
                if self._storage.set_trial_state_values(trial_id, state.RUNNING):
                    # A new trial sees the study afresh, as study.ask() arranges.
                    self.study._thread_local.cached_all_trials = None
                    with _optuna.tolerant():
                        return self._optuna.Trial(self.study, trial_id)
            except self._optuna.exceptions.UpdateFinishedTrialError:
                continue
        return None

    # -- running one ---------------------------------------------------------------------------
    def _run_trial(self, trial: Any) -> tuple[int, str]:
        spec = self.spec
        client = self.client
        with _optuna.tolerant():
            params = suggest(trial, spec)
        frozen = self._storage.get_trial(trial._trial_id)
        retry_of = frozen.system_attrs.get(RETRY_OF_ATTR)
        tags = {
            PARENT_TAG: self.sweep_id,
            SWEEP_TAG: self.sweep_id,
            TRIAL_TAG: str(trial.number),
            STATE_TAG: "RUNNING",
            "mlflow.user": _fluent._user(),
            "mlflow.source.type": "LOCAL",
        }
        if retry_of is not None:
            tags["runbase.sweep.retry_of"] = str(retry_of)
        run = client.create_run(
            self.experiment_id, run_name=f"{spec.name}-{trial.number:03d}", tags=tags
        )
        run_id = run.info.run_id
        self._storage.set_trial_system_attr(
            trial._trial_id, OWNER_ATTR, {"agent": self.agent_id, "run": run_id}
        )
        client.log_params(run_id, params)
        context = report.TrialContext(trial, run_id, spec.metric.name, client, params)
        started = time.monotonic()
        try:
            if spec.command is not None:
                outcome = _trial.run_command(
                    context,
                    spec,
                    client.tracking_uri,
                    self.experiment_id,
                    self.sweep_id,
                    self.workdir,
                )
            else:
                outcome = _trial.run_function(self._get_function(), context, spec)
        except BaseException:
            # Interrupted: the trial stays RUNNING and is re-run once this agent's lease is
            # gone; its run says so.
            client.set_tags(run_id, {STATE_TAG: "INTERRUPTED"})
            if _fluent.active_run_id() == run_id:
                _fluent.end_run(RunStatus.KILLED)
            else:
                client.set_terminated(run_id, RunStatus.KILLED)
            raise
        state = self._tell(trial, outcome)
        tags = {STATE_TAG: state}
        if outcome.value is not None and state == "COMPLETE":
            tags["runbase.sweep.value"] = repr(outcome.value)
        client.set_tags(run_id, tags)
        if _fluent.active_run_id() == run_id:
            _fluent.end_run(outcome.run_status)
        else:
            client.set_terminated(run_id, outcome.run_status)
        seconds = time.monotonic() - started
        value = "" if outcome.value is None else f" {spec.metric.name}={outcome.value:.6g}"
        shown = " ".join(f"{k}={v}" for k, v in params.items())
        self._say(f"trial {trial.number} {state}{value} ({seconds:.1f} s) {shown}")
        if state == "COMPLETE":
            self._maybe_best(trial.number)
        return trial.number, state

    def _get_function(self) -> Callable[..., Any]:
        if self._function is None:
            ref = self.spec.function
            assert isinstance(ref, str)
            self._function = _trial.load_function(ref, self.workdir or self.spec.workdir)
        return self._function

    def _tell(self, trial: Any, outcome: _trial.Outcome) -> str:
        state = self._optuna.trial.TrialState
        try:
            with _optuna.tolerant():
                if outcome.state == "COMPLETE":
                    self.study.tell(trial, outcome.value)
                elif outcome.state == "PRUNED":
                    self.study.tell(trial, state=state.PRUNED)
                else:
                    if outcome.error:
                        self._storage.set_trial_system_attr(
                            trial._trial_id, ERROR_ATTR, outcome.error
                        )
                    self.study.tell(trial, state=state.FAIL)
        except (ValueError, self._optuna.exceptions.UpdateFinishedTrialError):
            # Given up as stale meanwhile (this agent stopped heartbeating for too long): its
            # configuration was queued again, so this result is not kept.
            self._say(f"trial {trial.number} was given up meanwhile; its result is dropped")
            return "FAIL"
        return outcome.state

    def _maybe_best(self, number: int) -> None:
        best = self._index.best  # (value, trial id): one study per journal, so id == number
        if best is not None and best[1] == number:
            trial = self._storage.get_trial(best[1])
            try:
                record_best(
                    self.client, self.sweep_id, self.spec, trial_info(trial), self._index.finished
                )
            except RunbaseError as exc:
                self._say(f"could not record the best trial on the sweep's run: {exc}")

    def _on_reaped(self, trial: Any, reason: str) -> None:
        info = trial_info(trial)
        self._say(f"trial {trial.number} given up ({reason}); its configuration runs again")
        if info.run_id is None:
            return
        try:
            run = self.store.get_run(info.run_id)
            self.client.set_tags(info.run_id, {STATE_TAG: "FAIL", "runbase.sweep.stale": reason})
            if run.info.status == RunStatus.RUNNING:
                self.client.set_terminated(info.run_id, RunStatus.FAILED)
        except (NotFoundError, RunbaseError) as exc:
            self._say(f"could not close the run of trial {trial.number}: {exc}")

    def _say(self, text: str) -> None:
        out = self.out if self.out is not None else sys.stderr
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=out, flush=True)
