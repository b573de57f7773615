"""A sweep's results read from the store: trials, best trial, history, intermediate values,
parameter importance. What the CLI prints and the server's ``/api/v1/sweeps`` routes answer.

This side of ``runbase.sweeps`` needs only a :class:`~runbase.store.Store`, never a client, so
the server can use it. A :class:`SweepReader` keeps its Optuna storage between calls and only
reads what was appended since, so polling a sweep stays cheap.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from runbase.entities import ViewType
from runbase.errors import InvalidInputError, NotFoundError
from runbase.store import Store
from runbase.sweeps import _journal, _optuna
from runbase.sweeps._types import (
    ERROR_ATTR,
    NAME_TAG,
    OWNER_ATTR,
    RETRY_HISTORY_ATTR,
    RETRY_OF_ATTR,
    ROLE_TAG,
    STALE_ATTR,
    STATE_TAG,
    SWEEP_TAG,
    TRIAL_TAG,
    AgentInfo,
    HistoryPoint,
    IntermediateSeries,
    SweepInfo,
    TrialInfo,
)
from runbase.sweeps.spec import SweepSpec

if TYPE_CHECKING:
    from optuna.storages import JournalStorage

__all__ = [
    "ERROR_ATTR",
    "NAME_TAG",
    "OWNER_ATTR",
    "RETRY_HISTORY_ATTR",
    "RETRY_OF_ATTR",
    "ROLE_TAG",
    "STALE_ATTR",
    "STATE_TAG",
    "SWEEP_TAG",
    "TRIAL_TAG",
    "AgentInfo",
    "HistoryPoint",
    "IntermediateSeries",
    "SweepInfo",
    "SweepReader",
    "TrialInfo",
    "find_sweep_runs",
    "resolve_sweep_id",
    "trial_info",
]

IMPORTANCE_EVALUATORS: Final = ("ped_anova", "fanova", "mdi")


@dataclass
class SweepReader:
    """Reads one sweep; thread-safe; each call first reads what the journal gained since.

    ``storage`` is an Optuna storage of this sweep that is already open (an agent's): opening
    a new one replays the whole journal, which takes seconds after 100,000 trials."""

    store: Store
    sweep_id: str
    storage: JournalStorage | None = None
    record: dict[str, Any] = field(init=False)
    spec: SweepSpec = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.record = _journal.load_spec_record(self.store, self.sweep_id)
        self.spec = _journal.spec_of(self.record)
        if self.storage is None:
            self.storage = _journal.open_storage(self.store, self.sweep_id)
        self.study = _journal.load_study(self.storage, self.sweep_id)

    # -- trials --------------------------------------------------------------------------------
    def frozen_trials(self) -> list[Any]:
        """Optuna's frozen trials, fresh (not copies: do not change them)."""
        with self._lock:
            return list(self.study.get_trials(deepcopy=False))

    def trials(self) -> list[TrialInfo]:
        return [trial_info(t) for t in self.frozen_trials()]

    def counts(self, trials: Sequence[Any] | None = None) -> dict[str, int]:
        out = dict.fromkeys(("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"), 0)
        for t in self.frozen_trials() if trials is None else trials:
            out[t.state.name] = out.get(t.state.name, 0) + 1
        return out

    def best(self, trials: Sequence[Any] | None = None) -> TrialInfo | None:
        found = None
        for t in self.frozen_trials() if trials is None else trials:
            if t.state.name != "COMPLETE" or t.value is None or math.isnan(t.value):
                continue
            if found is None or self.spec.metric.better(t.value, found.value):
                found = t
        return None if found is None else trial_info(found)

    def finished(self, trials: Sequence[Any] | None = None) -> bool:
        """No trial waits or runs, and the budget is spent (or the sweep ran out of time)."""
        trials = self.frozen_trials() if trials is None else trials
        if any(t.state.name in ("RUNNING", "WAITING") for t in trials):
            return False
        used = sum(1 for t in trials if RETRY_OF_ATTR not in t.system_attrs)
        return used >= self.spec.budget

    def info(self) -> SweepInfo:
        trials = self.frozen_trials()
        spec = self.spec
        return SweepInfo(
            sweep_id=self.sweep_id,
            name=spec.name,
            experiment_id=str(self.record.get("experiment_id", "")),
            method=spec.method,
            metric=spec.metric.name,
            goal=spec.metric.goal,
            pruner=spec.pruner.type,
            budget=spec.budget if spec.budget < 2**62 else None,
            created=int(self.record.get("created", 0)),
            counts=self.counts(trials),
            finished=self.finished(trials),
            best=self.best(trials),
            agents=self.agents(),
            spec=dict(self.record["spec"]),
        )

    def agents(self) -> list[AgentInfo]:
        return [
            AgentInfo(lease.key.removeprefix("agent:"), not lease.expired, lease.expires_time)
            for lease in self.store.list_leases(_journal.scope(self.sweep_id))
            if lease.key.startswith("agent:")
        ]

    # -- results -------------------------------------------------------------------------------
    def history(self) -> list[HistoryPoint]:
        points = []
        best: float | None = None
        for t in sorted(self.frozen_trials(), key=lambda t: t.number):
            if not t.state.is_finished():
                continue
            value = t.value if t.state.name == "COMPLETE" else None
            if (
                value is not None
                and not math.isnan(value)
                and (best is None or self.spec.metric.better(value, best))
            ):
                best = value
            points.append(HistoryPoint(t.number, t.state.name, _finite(t.value), best))
        return points

    def intermediate_values(self, numbers: Sequence[int] | None = None) -> list[IntermediateSeries]:
        wanted = None if numbers is None else set(numbers)
        out = []
        for t in self.frozen_trials():
            if wanted is not None and t.number not in wanted:
                continue
            steps = sorted(t.intermediate_values)
            out.append(
                IntermediateSeries(
                    t.number,
                    t.state.name,
                    t.state.name == "PRUNED",
                    steps,
                    [_finite(t.intermediate_values[s]) for s in steps],
                )
            )
        return out

    def importance(self, evaluator: str = "ped_anova") -> dict[str, float]:
        """Parameter importance over the COMPLETE trials (Optuna's evaluators); empty while too
        few trials have finished to tell."""
        if evaluator not in IMPORTANCE_EVALUATORS:
            raise InvalidInputError(
                f"Unknown importance evaluator {evaluator!r}; expected one of "
                + ", ".join(IMPORTANCE_EVALUATORS)
            )
        optuna = _optuna.load()
        complete = [
            t for t in self.frozen_trials() if t.state.name == "COMPLETE" and t.value is not None
        ]
        searched = {p.name for p in self.spec.searched}
        if len(complete) < 2 or not searched:
            return {}
        make = {
            "ped_anova": optuna.importance.PedAnovaImportanceEvaluator,
            "fanova": optuna.importance.FanovaImportanceEvaluator,
            "mdi": optuna.importance.MeanDecreaseImpurityImportanceEvaluator,
        }[evaluator]
        try:
            # Optuna warns about degenerate cases (all values equal...): the answer says enough.
            with warnings.catch_warnings(), self._lock:
                warnings.simplefilter("ignore")
                found = optuna.importance.get_param_importances(
                    self.study, evaluator=make(), params=sorted(searched)
                )
        except ImportError as exc:
            raise _optuna.missing_dependency(evaluator, exc) from None
        except (RuntimeError, ValueError):
            return {}  # e.g. a parameter no finished trial has, or no variance yet
        return {k: float(v) for k, v in found.items()}


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def trial_info(t: Any) -> TrialInfo:
    owner = t.system_attrs.get(OWNER_ATTR) or {}
    started = t.datetime_start.timestamp() if t.datetime_start else None
    completed = t.datetime_complete.timestamp() if t.datetime_complete else None
    duration = None
    if started is not None:
        duration = (completed if completed is not None else time.time()) - started
    error = t.system_attrs.get(ERROR_ATTR) or t.system_attrs.get(STALE_ATTR)
    return TrialInfo(
        number=t.number,
        state=t.state.name,
        params=dict(t.params),
        value=_finite(t.value) if t.values else None,
        run_id=owner.get("run"),
        agent=owner.get("agent"),
        started=started,
        completed=completed,
        duration=duration,
        last_step=t.last_step,
        retry_of=t.system_attrs.get(RETRY_OF_ATTR),
        error=error,
        stale=STALE_ATTR in t.system_attrs,
    )


def find_sweep_runs(store: Store, experiment_ids: Sequence[str] | None = None) -> list[Any]:
    """The parent runs of every sweep, newest first."""
    ids = (
        list(experiment_ids)
        if experiment_ids
        else [e.experiment_id for e in store.search_experiments(ViewType.ACTIVE_ONLY)]
    )
    if not ids:
        return []
    page = store.search_runs(ids, f"tags.`{ROLE_TAG}` = 'parent'", max_results=1000)
    return page.runs


def resolve_sweep_id(store: Store, name_or_id: str) -> str:
    """A sweep id, given its id or its name (the newest sweep of that name)."""
    try:
        _journal.load_spec_record(store, name_or_id)
        return name_or_id
    except (NotFoundError, InvalidInputError):
        pass
    for run in find_sweep_runs(store):
        if run.data.tags.get(NAME_TAG) == name_or_id:
            return str(run.info.run_id)
    raise NotFoundError(f"No sweep with id or name {name_or_id!r}")
