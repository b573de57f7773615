"""What a sweep's results look like on the wire and in Python: frozen msgspec structs, and the
names runbase gives its tags and Optuna attributes. No Optuna import here, so the server can
describe its sweep routes without loading it."""

from __future__ import annotations

from typing import Any, Final

import msgspec

__all__ = [
    "AgentInfo",
    "HistoryBody",
    "HistoryPoint",
    "ImportanceBody",
    "IntermediateBody",
    "IntermediateSeries",
    "SweepDetail",
    "SweepInfo",
    "SweepList",
    "TrialInfo",
    "TrialList",
]

#: Tags on the sweep's runs.
SWEEP_TAG: Final = "runbase.sweep.id"
ROLE_TAG: Final = "runbase.sweep.role"
TRIAL_TAG: Final = "runbase.sweep.trial"
STATE_TAG: Final = "runbase.sweep.state"
NAME_TAG: Final = "runbase.sweep.name"
#: Optuna system attributes runbase sets on a trial.
OWNER_ATTR: Final = "runbase:owner"  # {"agent": ..., "run": ...}
STALE_ATTR: Final = "runbase:stale"  # why the trial was given up
ERROR_ATTR: Final = "runbase:error"  # the end of a failed trial's traceback or output
RETRY_OF_ATTR: Final = "failed_trial"  # Optuna's RetryHeartbeatStaleTrialCallback convention
RETRY_HISTORY_ATTR: Final = "retry_history"


class TrialInfo(msgspec.Struct, frozen=True):
    """One trial as the trials table shows it. ``state`` is Optuna's (COMPLETE, PRUNED, FAIL,
    RUNNING, WAITING); ``retry_of`` is the trial it re-runs after its agent died."""

    number: int
    state: str
    params: dict[str, Any]
    value: float | None = None
    run_id: str | None = None
    agent: str | None = None
    started: float | None = None  # seconds since the epoch
    completed: float | None = None
    duration: float | None = None  # seconds
    last_step: int | None = None
    retry_of: int | None = None
    error: str | None = None
    #: Given up because its agent died; its configuration was queued again.
    stale: bool = False


class HistoryPoint(msgspec.Struct, frozen=True):
    """A finished trial in number order with the best value so far (over COMPLETE trials)."""

    number: int
    state: str
    value: float | None
    best: float | None


class IntermediateSeries(msgspec.Struct, frozen=True):
    number: int
    state: str
    pruned: bool
    steps: list[int]
    values: list[float | None]  # None stands for NaN


class AgentInfo(msgspec.Struct, frozen=True):
    agent: str
    alive: bool
    #: When its lease runs out unless renewed (ms since the epoch, the store's clock).
    lease_expires: int


class SweepInfo(msgspec.Struct, frozen=True):
    sweep_id: str
    name: str
    experiment_id: str
    method: str
    metric: str
    goal: str
    pruner: str
    budget: int | None
    created: int  # ms since the epoch
    counts: dict[str, int]
    finished: bool
    best: TrialInfo | None = None
    agents: list[AgentInfo] = msgspec.field(default_factory=list)
    spec: dict[str, Any] = msgspec.field(default_factory=dict)


class SweepDetail(msgspec.Struct, frozen=True):
    """A sweep with its trials table."""

    sweep: SweepInfo
    trials: list[TrialInfo]


class SweepList(msgspec.Struct, frozen=True):
    sweeps: list[SweepInfo]


class TrialList(msgspec.Struct, frozen=True):
    trials: list[TrialInfo]


class HistoryBody(msgspec.Struct, frozen=True):
    metric: str
    goal: str
    points: list[HistoryPoint]


class IntermediateBody(msgspec.Struct, frozen=True):
    metric: str
    trials: list[IntermediateSeries]


class ImportanceBody(msgspec.Struct, frozen=True):
    """Share of the metric's variation each parameter explains (sums to 1); empty while too
    few trials have completed."""

    evaluator: str
    importances: dict[str, float]
