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
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, NamedTuple

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
    "MetricColumns",
    "RunPage",
    "RunWrite",
    "Store",
    "group_metrics",
    "now_ms",
    "validate_batch_id",
]

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
MAX_BATCH_ID_LENGTH: Final = 64
_BATCH_ID_RE: Final = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")


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


class RunWrite(NamedTuple):
    """One ``log_columns`` call, as a value: what :meth:`Store.ingest` takes many of."""

    run_id: str
    metrics: Mapping[str, MetricColumns]
    params: Sequence[Param] = ()
    tags: Sequence[RunTag] = ()
    batch_id: str | None = None


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

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """A series as MLflow-style :class:`Metric` objects."""
        cols = self.get_metric_columns(run_id, key)
        return [
            Metric(key, v, t, s)
            for s, t, v in zip(
                cols.steps.tolist(), cols.timestamps.tolist(), cols.values.tolist(), strict=True
            )
        ]

    def get_experiment_id(self, name: str) -> str | None:
        experiment = self.get_experiment_by_name(name)
        return None if experiment is None else experiment.experiment_id
