"""Agents' liveness and what happens to the trials of an agent that died.

Each agent holds a lease ``agent:<id>`` in its sweep's scope and renews it from a background
thread every quarter of ``heartbeat_timeout``; each trial it runs names it (Optuna system
attribute ``runbase:owner``). A RUNNING trial is stale when its owner's lease has expired or is
gone, or when it has had no owner for a whole ``heartbeat_timeout`` (its agent died between
creating the trial and claiming it).

Any agent may reap, one at a time (the ``reaper`` lease): it marks each stale trial FAIL with the
reason (``runbase:stale``), and Optuna's ``RetryHeartbeatStaleTrialCallback`` queues the same
configuration again as a WAITING trial, which the next free agent picks up. Marking and queueing
are two journal entries; a reaper that dies between them leaves a stale FAIL trial without a
retry, which the next reaper finds and queues — the lease makes sure only one does.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from runbase.errors import RunbaseError
from runbase.store import Store
from runbase.sweeps import _journal, _optuna
from runbase.sweeps._results import (
    OWNER_ATTR,
    RETRY_HISTORY_ATTR,
    RETRY_OF_ATTR,
    STALE_ATTR,
)
from runbase.sweeps.spec import SweepSpec

__all__ = ["Heartbeat", "Reaper", "agent_key"]

_log = logging.getLogger("runbase.sweeps")

REAPER_KEY: Final = "reaper"


def agent_key(agent_id: str) -> str:
    return f"agent:{agent_id}"


class Heartbeat:
    """Keeps an agent's lease alive from a daemon thread; ``lost`` is set if it could not."""

    def __init__(
        self,
        store: Store,
        scope: str,
        agent_id: str,
        ttl: float,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._scope = scope
        self._agent_id = agent_id
        self._ttl = ttl
        self._on_tick = on_tick
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name="runbase-heartbeat", daemon=True)

    def start(self) -> None:
        if not self._store.acquire_lease(
            self._scope, agent_key(self._agent_id), self._agent_id, self._ttl
        ):
            raise RunbaseError(f"Agent id {self._agent_id} is already in use in this sweep")
        self._thread.start()

    def _run(self) -> None:
        interval = max(self._ttl / 4, 0.05)
        while not self._stop.wait(interval):
            try:
                if not self._store.acquire_lease(
                    self._scope, agent_key(self._agent_id), self._agent_id, self._ttl
                ):
                    self.lost.set()
            except RunbaseError as exc:  # the store is down: try again at the next beat
                _log.warning("heartbeat failed: %s", exc)
            if self._on_tick is not None:
                try:
                    self._on_tick()
                except Exception:
                    _log.exception("reaping stale trials failed")

    def stop(self, release: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if release:
            try:
                self._store.release_lease(self._scope, agent_key(self._agent_id), self._agent_id)
            except RunbaseError as exc:
                _log.warning("could not release the agent lease: %s", exc)


class Reaper:
    """Finds stale trials of a sweep and hands their configurations out again.

    It keeps its own Optuna storage (so it can run in the heartbeat thread beside the agent's
    study). ``on_failed(trial, reason)`` is called for each trial it failed, to end its run."""

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        spec: SweepSpec,
        agent_id: str,
        on_failed: Callable[[Any, str], None] | None = None,
    ) -> None:
        self._store = store
        self._scope = _journal.scope(sweep_id)
        self._spec = spec
        self._agent_id = agent_id
        self._on_failed = on_failed
        self._storage = _journal.open_storage(store, sweep_id)
        self._study = _journal.load_study(self._storage, sweep_id)
        self._unowned_since: dict[int, float] = {}
        self._lock = threading.Lock()

    def _stale(self, trials: list[Any]) -> list[tuple[Any, str]]:
        live = {
            lease.key.removeprefix("agent:")
            for lease in self._store.list_leases(self._scope)
            if lease.key.startswith("agent:") and not lease.expired
        }
        now = time.monotonic()
        running = [t for t in trials if t.state.name == "RUNNING"]
        self._unowned_since = {
            n: since for n, since in self._unowned_since.items() if n in {t.number for t in running}
        }
        out = []
        for t in running:
            owner = t.system_attrs.get(OWNER_ATTR)
            if owner is None:
                since = self._unowned_since.setdefault(t.number, now)
                if now - since >= self._spec.heartbeat_timeout:
                    out.append((t, "its agent stopped before claiming it"))
            elif owner.get("agent") not in live:
                out.append((t, f"agent {owner.get('agent')} stopped"))
        return out

    def _orphans(self, trials: list[Any]) -> list[Any]:
        """Stale trials whose retry was never queued (a reaper died in between)."""
        retried = {
            t.system_attrs[RETRY_HISTORY_ATTR][-1]
            for t in trials
            if t.system_attrs.get(RETRY_HISTORY_ATTR)
        }
        return [
            t
            for t in trials
            if t.state.name == "FAIL"
            and STALE_ATTR in t.system_attrs
            and t.number not in retried
            and len(t.system_attrs.get(RETRY_HISTORY_ATTR, [])) < self._spec.max_retries
        ]

    def reap(self) -> int:
        """Fail the stale trials and queue them again; return how many were failed."""
        with self._lock:
            trials = self._study.get_trials(deepcopy=False)
            if not self._stale(trials) and not self._orphans(trials):
                return 0
            ttl = max(self._spec.heartbeat_timeout, 5.0)
            if not self._store.acquire_lease(self._scope, REAPER_KEY, self._agent_id, ttl):
                return 0
            try:
                return self._reap_locked()
            finally:
                self._store.release_lease(self._scope, REAPER_KEY, self._agent_id)

    def _reap_locked(self) -> int:
        optuna = _optuna.load()
        storage = self._storage
        failed = 0
        for trial, reason in self._stale(self._study.get_trials(deepcopy=False)):
            try:
                storage.set_trial_system_attr(trial._trial_id, STALE_ATTR, reason)
                storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # it finished meanwhile, or another reaper got it
            failed += 1
            if self._on_failed is not None:
                self._on_failed(storage.get_trial(trial._trial_id), reason)
        for trial in self._orphans(self._study.get_trials(deepcopy=False)):
            self._retry(trial)
        return failed

    def _retry(self, trial: Any) -> None:
        """Queue the trial's configuration again, through Optuna's retry callback. runbase's own
        attributes (owner, run, stale reason) stay with the failed trial."""
        optuna = _optuna.load()
        clean = copy.deepcopy(trial)
        attrs = {k: v for k, v in trial.system_attrs.items() if not k.startswith("runbase:")}
        attrs.setdefault("fixed_params", dict(trial.params))
        clean.system_attrs = attrs
        with _optuna.tolerant():
            callback = optuna.storages.RetryHeartbeatStaleTrialCallback(
                max_retry=self._spec.max_retries
            )
            callback(self._study, clean)
        _log.info(
            "trial %d queued again (retry of %s)",
            trial.number,
            attrs.get(RETRY_OF_ATTR, trial.number),
        )
