"""Optuna's journal storage, with the journal kept in the runbase store.

Optuna's :class:`~optuna.storages.JournalStorage` turns every change of a study into a log entry
and rebuilds the study by replaying them; all it asks of a backend is to append entries and read
them back in one order for everyone. :meth:`Store.append_journal` numbers entries without gaps
in commit order, which is exactly that, on SQLite, PostgreSQL and through a runbase server. So a
sweep needs nothing shared but the store.

A sweep ``<id>`` (its parent run's id) keeps two journals: ``sweep:<id>`` (Optuna's) and
``sweep:<id>:spec`` (its spec, as JSON, entry 0).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterable
from typing import Any, Final

from runbase.errors import NotFoundError, RunbaseError
from runbase.store import Store
from runbase.store.base import MAX_JOURNAL_BATCH
from runbase.sweeps import _optuna
from runbase.sweeps.spec import SweepSpec, parse_spec

try:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import BaseJournalBackend
except ModuleNotFoundError as _exc:  # pragma: no cover - optuna is a dependency
    raise RunbaseError("Sweeps need Optuna: pip install 'optuna>=4'") from _exc

__all__ = [
    "JournalIndex",
    "StoreJournalBackend",
    "load_spec_record",
    "open_storage",
    "save_spec_record",
    "scope",
    "study_journal",
]

#: Optuna's study inside a sweep's journal carries the sweep id as its name.
_SPEC_SUFFIX: Final = ":spec"


def study_journal(sweep_id: str) -> str:
    return f"sweep:{sweep_id}"


def scope(sweep_id: str) -> str:
    """The lease scope of a sweep's agents and locks."""
    return f"sweep:{sweep_id}"


#: Optuna's journal operation codes (``JournalOperation``): a file format, so stable.
_CREATE_TRIAL: Final = 4
_SET_TRIAL_STATE: Final = 6
_RUNNING: Final = 0
_COMPLETE: Final = 1
_WAITING: Final = 4


class JournalIndex:
    """What an agent asks of its sweep before each trial, kept up to date in O(1) per journal
    entry instead of scanning every trial: how many trials exist and how many of them are
    retries, which are queued (WAITING), and the best COMPLETE value. It follows the entries
    exactly as Optuna's replay applies them (a state change of a finished trial is ignored, a
    second RUNNING is not a change)."""

    def __init__(self, maximize: bool) -> None:
        self.maximize = maximize
        self.position = 0  # entries indexed
        self.states: list[int] = []  # by trial id
        self.retries = 0
        self.waiting: set[int] = set()
        self.best: tuple[float, int] | None = None  # (value, trial id)
        self.finished = 0

    def add(self, first: int, logs: list[dict[str, Any]]) -> None:
        for offset, log in enumerate(logs):
            if first + offset != self.position:
                continue  # seen already (Optuna re-reads after a failed apply)
            self.position += 1
            op = log.get("op_code")
            if op == _CREATE_TRIAL:
                trial_id = len(self.states)
                state = int(log.get("state", _RUNNING))
                self.states.append(state)
                if "failed_trial" in (log.get("system_attrs") or {}):
                    self.retries += 1
                if state == _WAITING:
                    self.waiting.add(trial_id)
                elif state not in (_RUNNING, _WAITING):
                    self._finish(trial_id, state, log.get("values"))
            elif op == _SET_TRIAL_STATE:
                self._set_state(int(log["trial_id"]), int(log["state"]), log.get("values"))

    def _set_state(self, trial_id: int, state: int, values: Any) -> None:
        if trial_id >= len(self.states):
            return
        current = self.states[trial_id]
        if current not in (_RUNNING, _WAITING) or (state == current == _RUNNING):
            return
        self.states[trial_id] = state
        self.waiting.discard(trial_id)
        if state not in (_RUNNING, _WAITING):
            self._finish(trial_id, state, values)

    def _finish(self, trial_id: int, state: int, values: Any) -> None:
        self.finished += 1
        if state != _COMPLETE or not values:
            return
        value = float(values[0])
        if math.isnan(value):
            return
        if self.best is None or (value > self.best[0] if self.maximize else value < self.best[0]):
            self.best = (value, trial_id)


class StoreJournalBackend(BaseJournalBackend):
    """Optuna's journal backend on :meth:`Store.append_journal` and :meth:`Store.read_journal`.

    After an append whose entries follow directly on what this backend has read, Optuna's
    read-back is answered from memory: one store call per change instead of two, when no other
    agent wrote in between. (A read then may stop at this append: entries after it are read at
    the next sync, and a prefix of the journal is always a consistent state.)

    With ``max_staleness`` (seconds), a plain sync (Optuna syncs before every read of the study)
    reads the store only if the last read is older than that; :meth:`refresh` makes the next
    sync read it anyway. Reads after this backend's own appends always see everything up to
    them, so which agent took a queued trial, or whose change came first, is never stale.
    """

    def __init__(
        self,
        store: Store,
        journal: str,
        index: JournalIndex | None = None,
        max_staleness: float = 0.0,
    ) -> None:
        self._store = store
        self._journal = journal
        self._lock = threading.Lock()
        #: Entries appended here, by number, not yet handed to Optuna.
        self._pending: dict[int, list[dict[str, Any]]] = {}
        self.index = index
        self._max_staleness = max_staleness
        self._last_read = -math.inf
        self._position = 0

    def refresh(self) -> None:
        """Make the next sync read the store."""
        self._last_read = -math.inf

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        with self._lock:
            mine = self._pending.pop(log_number_from, None)
            if mine is not None:
                self._indexed(log_number_from, mine)
                return mine
            self._pending = {n: e for n, e in self._pending.items() if n > log_number_from}
            now = time.monotonic()
            if (
                not self._pending
                and log_number_from >= self._position
                and now - self._last_read < self._max_staleness
            ):
                return []
        out: list[dict[str, Any]] = []
        while True:
            page = self._store.read_journal(self._journal, log_number_from + len(out))
            out += [json.loads(entry) for entry in page]
            if len(page) < MAX_JOURNAL_BATCH:
                break
        with self._lock:
            self._last_read = time.monotonic()
            end = log_number_from + len(out)
            self._pending = {n: e for n, e in self._pending.items() if n >= end}
            self._indexed(log_number_from, out)
        return out

    def _indexed(self, first: int, logs: list[dict[str, Any]]) -> None:
        self._position = max(self._position, first + len(logs))
        if self.index is not None:
            self.index.add(first, logs)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        texts = [json.dumps(log, separators=(",", ":")) for log in logs]
        first = self._store.append_journal(self._journal, texts)
        assert first is not None
        with self._lock:
            self._pending[first] = [json.loads(text) for text in texts]


def open_storage(
    store: Store, sweep_id: str, backend: StoreJournalBackend | None = None
) -> JournalStorage:
    """The sweep's Optuna storage (replays its journal: once, then incrementally)."""
    return JournalStorage(backend or StoreJournalBackend(store, study_journal(sweep_id)))


def load_study(
    storage: JournalStorage,
    sweep_id: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    if sampler is None:
        sampler = optuna.samplers.RandomSampler()
    with _optuna.tolerant():
        try:
            return optuna.load_study(
                study_name=sweep_id, storage=storage, sampler=sampler, pruner=pruner
            )
        except KeyError:
            raise NotFoundError(f"No sweep with id={sweep_id}") from None


def save_spec_record(store: Store, sweep_id: str, record: dict[str, Any]) -> None:
    store.append_journal(
        study_journal(sweep_id) + _SPEC_SUFFIX,
        [json.dumps(record, separators=(",", ":"))],
        expected_length=0,
    )


def load_spec_record(store: Store, sweep_id: str) -> dict[str, Any]:
    """What :func:`save_spec_record` kept: ``spec`` (its dict form) and the sweep's context."""
    entries = store.read_journal(study_journal(sweep_id) + _SPEC_SUFFIX, 0, 1)
    if not entries:
        raise NotFoundError(f"No sweep with id={sweep_id}")
    record: dict[str, Any] = json.loads(entries[0])
    return record


def spec_of(record: dict[str, Any]) -> SweepSpec:
    return parse_spec(record["spec"])
