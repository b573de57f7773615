"""The store contract: what every tracking backend (SQLite, PostgreSQL, a remote server) provides.

A backend implements the abstract primitives below; everything else is built on them here, so a
backend author writes each primitive once and the conformance suite (``tests/store``) tells them
when they are done.

Contract
--------
* **Thread safety.** A store object may be shared by threads: the client's background writer and
  the training thread use the same one.
* **Snapshots.** Every read returns frozen entities (``runbase.entities``); nothing returned
  changes when the store does.
* **Atomic writes.** A write either happens entirely or not at all. ``log_columns`` validates the
  whole batch (keys, values, param conflicts, run state) before anything is visible.
* **Errors.** Bad input raises :class:`~runbase.errors.InvalidInputError`; unknown ids raise
  :class:`~runbase.errors.NotFoundError`; duplicate names raise
  :class:`~runbase.errors.AlreadyExistsError`; infrastructure failures raise
  :class:`~runbase.errors.StoreError`. Nothing else escapes a primitive.
* **Metrics.** Points are ``(step, timestamp, value)``; NaN and ±inf are stored and returned as
  such. Histories come back sorted by step, then timestamp, with exact duplicate points (a retried
  batch) removed. Re-logging a param with the *same* value is a no-op; with another value it is an
  error.
* **Idempotent ingest.** ``log_columns`` takes an optional ``batch_id`` (1 to 64 characters of
  ``[A-Za-z0-9_.:-]``, unique across all runs; a random UUID is the usual choice). The id is
  recorded in the same transaction as the data; a write whose id is already recorded does nothing
  at all, so a batch retried after a lost answer, replayed from a spool or sent by two replicas is
  stored exactly once. The id is only recorded when the write succeeds.
* **Logging to a deleted run** raises InvalidInputError; finished runs still accept data.
* **Purging** removes a deleted run for good, with everything the store holds of it; the run's
  artifacts are not the store's, so whoever purges removes them first (``runbase gc``).
* **Journals** (what sweep agents coordinate through) are named append-only lists of text
  entries. Entries are numbered 0, 1, 2, … per journal with no gap, in commit order: a reader
  that has seen entry ``n`` has seen every entry before it, whoever appended them. An append is
  atomic; with an ``append_id`` (the batch id alphabet) it is idempotent, so a retried append is
  stored once and answers the first one's position. With ``expected_length`` it only happens
  when the journal holds exactly that many entries (compare-and-append), else returns None.
* **Leases** are named locks with a time to live, measured on the store's clock (the database
  server's for PostgreSQL, the runbase server's over HTTP), so holders on several machines
  need not agree on the time. Acquiring succeeds when the lease is free, expired, or already
  held by the same holder (which renews it).
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

from runbase.entities import (
    DatasetInput,
    Experiment,
    Metric,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from runbase.errors import InvalidInputError, RunbaseError, StoreError

__all__ = [
    "PARENT_RUN_TAG",
    "DeletedRun",
    "ExperimentSummary",
    "MetricColumns",
    "RunKeys",
    "RunPage",
    "RunWrite",
    "Store",
    "group_metrics",
    "now_ms",
    "validate_batch_id",
    "validate_journal_entries",
    "validate_name",
    "validate_ttl",
]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
MAX_BATCH_ID_LENGTH: Final = 64
_BATCH_ID_RE: Final = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
#: Journal names, lease scopes, keys and holders: 1 to 200 of these characters.
MAX_NAME_LENGTH: Final = 200
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")
#: At most this many entries per append, and per read.
MAX_JOURNAL_BATCH: Final = 10_000
#: One journal entry is at most this many characters.
MAX_JOURNAL_ENTRY: Final = 1_000_000
#: The tag that names a nested run's parent, as in MLflow.
PARENT_RUN_TAG: Final = "mlflow.parentRunId"
#: How many of the newest runs :meth:`Store.run_keys` looks at by default.
RUN_KEYS_SAMPLE: Final = 2000
_PAGE: Final = 1000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class MetricColumns(NamedTuple):
    """One metric series as parallel arrays: int64 steps, int64 ms timestamps, float64 values."""

    steps: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    @classmethod
    def from_lists(
        cls, steps: Sequence[int], timestamps: Sequence[int], values: Sequence[float]
    ) -> MetricColumns:
        return cls(
            np.asarray(steps, dtype=np.int64),
            np.asarray(timestamps, dtype=np.int64),
            np.asarray(values, dtype=np.float64),
        )

    def __len__(self) -> int:
        return int(self.values.shape[0])


class RunPage(NamedTuple):
    runs: list[Run]
    next_page_token: str | None


class Lease(NamedTuple):
    """A lease as the store holds it; times are milliseconds on the store's clock."""

    scope: str
    key: str
    holder: str
    acquired_time: int
    expires_time: int
    #: Whether it had expired when it was read (by the store's clock).
    expired: bool


class RunWrite(NamedTuple):
    """One ``log_columns`` call, as a value: what :meth:`Store.ingest` takes many of."""

    run_id: str
    metrics: Mapping[str, MetricColumns]
    params: Sequence[Param] = ()
    tags: Sequence[RunTag] = ()
    batch_id: str | None = None


class ExperimentSummary(msgspec.Struct, frozen=True):
    """An experiment with what a list of experiments shows: how many active runs it has and
    when one last started or ended (ms since the epoch; None without runs)."""

    experiment: Experiment
    run_count: int
    last_activity: int | None


class DeletedRun(msgspec.Struct, frozen=True):
    """A run in the deleted stage, as garbage collection needs it."""

    run_id: str
    experiment_id: str
    artifact_uri: str
    #: When it was deleted (ms since the epoch; None for runs deleted before it was recorded).
    deleted_time: int | None


class RunKeys(msgspec.Struct, frozen=True):
    """The param, metric and tag keys runs use, each sorted: what a filter box completes and a
    column picker offers."""

    params: list[str] = msgspec.field(default_factory=list)
    metrics: list[str] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)


def group_metrics(metrics: Iterable[Metric]) -> dict[str, MetricColumns]:
    """Metric objects as one series per key, in the order given."""
    grouped: dict[str, tuple[list[int], list[int], list[float]]] = {}
    for m in metrics:
        steps, stamps, values = grouped.setdefault(m.key, ([], [], []))
        steps.append(m.step)
        stamps.append(m.timestamp)
        values.append(m.value)
    return {k: MetricColumns.from_lists(*v) for k, v in grouped.items()}


def validate_batch_id(batch_id: object) -> str:
    if not isinstance(batch_id, str) or not _BATCH_ID_RE.match(batch_id):
        raise InvalidInputError(
            f"Invalid batch id {batch_id!r}: expected 1 to {MAX_BATCH_ID_LENGTH} characters "
            "of letters, digits, '_', '.', ':' and '-'"
        )
    return batch_id


def validate_name(kind: str, name: object) -> str:
    """A journal name, lease scope, key or holder: 1 to 200 of ``[A-Za-z0-9_.:-]``."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInputError(
            f"Invalid {kind} {name!r}: expected 1 to {MAX_NAME_LENGTH} characters of letters, "
            "digits, '_', '.', ':' and '-'"
        )
    return name


def validate_journal_entries(entries: Sequence[str]) -> list[str]:
    if isinstance(entries, str) or not 1 <= len(entries) <= MAX_JOURNAL_BATCH:
        raise InvalidInputError(
            f"A journal append takes a list of 1 to {MAX_JOURNAL_BATCH} entries"
        )
    for entry in entries:
        if not isinstance(entry, str) or len(entry) > MAX_JOURNAL_ENTRY:
            raise InvalidInputError(
                f"A journal entry must be a string of at most {MAX_JOURNAL_ENTRY} characters"
            )
    return list(entries)


def validate_ttl(ttl: float) -> int:
    """A lease's time to live in seconds, as milliseconds (from 1 ms to 1 day)."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0.001 <= ttl <= 86_400:
        raise InvalidInputError(f"Invalid lease ttl {ttl!r}: expected 0.001 to 86400 seconds")
    return round(ttl * 1000)


class Store(abc.ABC):
    """Abstract tracking store. See the module docstring for the contract."""

    # -- experiments -------------------------------------------------------------------------
    @abc.abstractmethod
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Create an experiment and return its id."""

    @abc.abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment: ...

    @abc.abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...

    @abc.abstractmethod
    def search_experiments(self, view_type: str = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        """Experiments in the given lifecycle view, oldest first."""

    @abc.abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Mark an experiment and its runs deleted (restorable)."""

    @abc.abstractmethod
    def restore_experiment(self, experiment_id: str) -> None: ...

    @abc.abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Give an active experiment a new name; AlreadyExistsError when the name is taken."""

    @abc.abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...

    # -- runs --------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str,
        user_id: str = "",
        start_time: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run: ...

    @abc.abstractmethod
    def get_run(self, run_id: str) -> Run: ...

    @abc.abstractmethod
    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo: ...

    @abc.abstractmethod
    def delete_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def deleted_runs(self, deleted_before: int | None = None) -> list[DeletedRun]:
        """Every deleted run of every experiment, deleted before ``deleted_before`` (ms since
        the epoch; None: all), oldest deletion first."""

    @abc.abstractmethod
    def purge_run(self, run_id: str) -> None:
        """Remove a deleted run for good: its params, tags, metrics, inputs and outputs go with
        it. InvalidInputError when the run is not deleted; NotFoundError when unknown."""

    @abc.abstractmethod
    def restore_run(self, run_id: str) -> None: ...

    @abc.abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> RunPage:
        """Runs matching MLflow's filter grammar, ordered, one page at a time.

        The default order is ``start_time DESC, run_id ASC``; NULLs sort last. A page token is
        only valid for the same experiments, filter, view and order.
        """

    # -- data --------------------------------------------------------------------------------
    @abc.abstractmethod
    def log_columns(
        self,
        run_id: str,
        metrics: Mapping[str, MetricColumns] | None = None,
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        """Atomically append metric series and set params and tags for one run.

        With ``batch_id``, a write whose id was already recorded does nothing (see the module
        docstring).
        """

    @abc.abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None: ...

    @abc.abstractmethod
    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        """Record datasets as inputs; logging the same dataset with the same context is a no-op."""

    @abc.abstractmethod
    def get_metric_columns(self, run_id: str, key: str) -> MetricColumns:
        """A whole series as arrays, sorted by (step, timestamp), duplicates removed."""

    # -- journals and leases (sweep coordination) --------------------------------------------
    @abc.abstractmethod
    def append_journal(
        self,
        journal: str,
        entries: Sequence[str],
        *,
        expected_length: int | None = None,
        append_id: str | None = None,
    ) -> int | None:
        """Append entries to a journal (created on first use); return the number of the first.

        With ``expected_length``, append only if the journal holds exactly that many entries,
        else return None. With ``append_id``, an append already recorded under that id does
        nothing and returns the number it got then.
        """

    @abc.abstractmethod
    def read_journal(
        self, journal: str, start: int = 0, limit: int = MAX_JOURNAL_BATCH
    ) -> list[str]:
        """Entries ``start``, ``start + 1``, … in order, at most ``limit`` of them; an unknown
        journal is empty."""

    @abc.abstractmethod
    def acquire_lease(self, scope: str, key: str, holder: str, ttl: float) -> bool:
        """Take or renew a lease for ``ttl`` seconds; False when another holder has it."""

    @abc.abstractmethod
    def release_lease(self, scope: str, key: str, holder: str) -> bool:
        """Give a lease up; False when ``holder`` did not hold it (nothing changes then)."""

    @abc.abstractmethod
    def list_leases(self, scope: str) -> list[Lease]:
        """Every lease of a scope, expired ones included, ordered by key."""

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections. The store must not be used afterwards."""

    # -- helpers built on the primitives -----------------------------------------------------
    def ingest(self, writes: Sequence[RunWrite]) -> dict[int, RunbaseError]:
        """Apply many runs' writes in order, each one atomic (and idempotent with a batch id).

        A write the store rejects for good (unknown or deleted run, changed param...) does not
        stop the others: its error is returned under its index. A :class:`StoreError` stops
        everything and is raised; the writes before it are stored, so retrying the same writes
        with their batch ids is safe. A remote store sends them in one request.
        """
        rejected: dict[int, RunbaseError] = {}
        for index, write in enumerate(writes):
            try:
                self.log_columns(
                    write.run_id, write.metrics, write.params, write.tags, write.batch_id
                )
            except StoreError:
                raise
            except RunbaseError as exc:
                rejected[index] = exc
        return rejected

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """MLflow's ``log_batch``: metric objects, params and tags in one atomic write."""
        self.log_columns(run_id, group_metrics(metrics), params, tags)

    def get_metric_window(
        self,
        run_id: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        *,
        timestamps: bool = True,
    ) -> MetricColumns:
        """The points of a series with ``start <= step <= end`` (either bound may be None),
        ordered as :meth:`get_metric_columns` orders them: what a chart or a zoom reads.

        With ``timestamps=False`` the caller draws steps and values only, and the timestamps
        column may come back as zeros. Backends that keep a series in pieces override this to
        read only the pieces that reach into the window.
        """
        cols = self.get_metric_columns(run_id, key)
        lo = 0 if start is None else int(np.searchsorted(cols.steps, start, side="left"))
        hi = len(cols) if end is None else int(np.searchsorted(cols.steps, end, side="right"))
        return MetricColumns(cols.steps[lo:hi], cols.timestamps[lo:hi], cols.values[lo:hi])

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """A series as MLflow-style :class:`Metric` objects."""
        cols = self.get_metric_columns(run_id, key)
        return [
            Metric(key, v, t, s)
            for s, t, v in zip(
                cols.steps.tolist(), cols.timestamps.tolist(), cols.values.tolist(), strict=True
            )
        ]

    def experiment_summaries(
        self, view_type: str = ViewType.ACTIVE_ONLY
    ) -> list[ExperimentSummary]:
        """Experiments (oldest first) with their number of active runs and last activity.

        This fallback pages through every run; backends answer it with one query."""
        out = []
        for experiment in self.search_experiments(view_type):
            count, last = 0, None
            for run in self._all_runs([experiment.experiment_id]):
                count += 1
                moment = max(run.info.start_time, run.info.end_time or 0)
                last = moment if last is None else max(last, moment)
            out.append(ExperimentSummary(experiment, count, last))
        return out

    def run_keys(self, experiment_ids: Sequence[str], max_runs: int = RUN_KEYS_SAMPLE) -> RunKeys:
        """The param, metric and tag keys of the newest ``max_runs`` active runs of these
        experiments (bounded, so it stays fast over any number of runs)."""
        if max_runs < 1:
            raise InvalidInputError(f"max_runs must be at least 1: {max_runs}")
        params: set[str] = set()
        metrics: set[str] = set()
        tags: set[str] = set()
        for seen, run in enumerate(self._all_runs(experiment_ids)):
            if seen >= max_runs:
                break
            params.update(run.data.params)
            metrics.update(run.data.summaries)
            tags.update(run.data.tags)
        return RunKeys(sorted(params), sorted(metrics), sorted(tags))

    def child_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        """How many active runs name each of ``run_ids`` as parent (tag ``mlflow.parentRunId``);
        runs without children are left out."""
        experiments = [e.experiment_id for e in self.search_experiments()]
        counts: dict[str, int] = {}
        for run_id in dict.fromkeys(run_ids):
            quoted = run_id.replace("'", "''")
            query = f"tags.`{PARENT_RUN_TAG}` = '{quoted}'"
            found = sum(1 for _ in self._all_runs(experiments, query))
            if found:
                counts[run_id] = found
        return counts

    def _all_runs(self, experiment_ids: Sequence[str], filter_string: str = "") -> Iterator[Run]:
        """Every active run of the experiments, newest first, a page at a time."""
        if not experiment_ids:
            return
        token = None
        while True:
            page = self.search_runs(
                experiment_ids, filter_string, ViewType.ACTIVE_ONLY, _PAGE, None, token
            )
            yield from page.runs
            token = page.next_page_token
            if token is None:
                return

    def read_journal_all(self, journal: str, start: int = 0) -> list[str]:
        """Every entry from ``start`` on, in as many reads as it takes."""
        out: list[str] = []
        while True:
            page = self.read_journal(journal, start + len(out))
            out += page
            if len(page) < MAX_JOURNAL_BATCH:
                return out

    def get_experiment_id(self, name: str) -> str | None:
        experiment = self.get_experiment_by_name(name)
        return None if experiment is None else experiment.experiment_id
