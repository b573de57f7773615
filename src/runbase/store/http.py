"""``HttpStore``: the store contract over a runbase server's native API (``/api/v1``).

A remote store is just another backend: it passes the same conformance suite as the SQL store,
raises the same exceptions with the server's messages, and returns the same frozen entities.

* **Connections.** One keep-alive connection pool per store; thread-safe.
* **Idempotency.** Every metric/param/tag write carries a batch id (a fresh UUID unless the
  caller gives one), so it is retried safely after a timeout or a dropped connection and is
  stored exactly once. Reads, updates, deletes and restores are retried too; creating an
  experiment or a run is only retried when the request was never sent.
* **Compression.** Request bodies over 32 KiB are sent gzip-compressed.
* **Failures.** A server that stays unreachable, or answers 5xx, raises
  :class:`~runbase.errors.ServerUnavailableError` (a StoreError) after a few retries with
  backoff; the client's writer then spools metric points on disk (see ``runbase._spool``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import quote

import msgspec

from runbase._transport import Transport, error_for_code
from runbase.entities import (
    DatasetInput,
    Experiment,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)
from runbase.errors import RunbaseError, StoreError
from runbase.store import _wire as w
from runbase.store.base import (
    MAX_JOURNAL_BATCH,
    RUN_KEYS_SAMPLE,
    DeletedRun,
    ExperimentSummary,
    Lease,
    MetricColumns,
    RunKeys,
    RunPage,
    RunWrite,
    Store,
    validate_batch_id,
    validate_journal_entries,
    validate_name,
)

__all__ = ["HttpStore"]

#: One ingest request carries at most about this many points (several requests otherwise).
MAX_POINTS_PER_REQUEST: Final = 1_000_000
#: Retries of a failed call (see ``runbase._transport``) and the first backoff delay, in seconds;
#: the delay doubles at each retry.
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.25

T = TypeVar("T")

_ENCODER: Final = msgspec.json.Encoder()
_JSON: Final = {"Content-Type": "application/json"}


class HttpStore(Store):
    """A :class:`~runbase.store.base.Store` served by ``runbase server`` at ``url``."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 60.0,
        retries: int | None = None,
        backoff: float | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._transport = transport or Transport(
            self.url,
            timeout=timeout,
            retries=DEFAULT_RETRIES if retries is None else retries,
            backoff=DEFAULT_BACKOFF if backoff is None else backoff,
        )
        self._decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

    def close(self) -> None:
        self._transport.close()

    def __repr__(self) -> str:
        return f"HttpStore({self.url!r})"

    # -- plumbing ----------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        answer: type[T],
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> T:
        content = None if body is None else _ENCODER.encode(body)
        response = self._transport.request(
            method,
            "/api/v1" + path,
            idempotent=idempotent,
            content=content,
            params=params,
            headers=_JSON if method != "GET" else None,
            compress=True,
        )
        decoder = self._decoders.get(answer)
        if decoder is None:
            decoder = self._decoders[answer] = msgspec.json.Decoder(answer)
        try:
            result: T = decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            raise StoreError(
                f"Unexpected answer from {self.url} to {method} {path}: {exc}"
            ) from None
        return result

    # -- experiments -------------------------------------------------------------------------
    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        body = w.CreateExperimentBody(name, artifact_location, dict(tags or {}))
        answer = self._call("POST", "/experiments", w.ExperimentIdBody, body=body, idempotent=False)
        return answer.experiment_id

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self._call("GET", f"/experiments/{_segment(experiment_id)}", Experiment)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        answer = self._call(
            "GET", "/experiments/by-name", w.ExperimentByNameBody, params={"name": name}
        )
        return answer.experiment

    def search_experiments(self, view_type: str = ViewType.ACTIVE_ONLY) -> list[Experiment]:
        answer = self._call(
            "GET", "/experiments", w.ExperimentListBody, params={"view_type": view_type}
        )
        return answer.experiments

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        path = f"/experiments/{_segment(experiment_id)}"
        self._call("PATCH", path, dict, body=w.RenameExperimentBody(new_name))

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("DELETE", f"/experiments/{_segment(experiment_id)}", dict)

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", f"/experiments/{_segment(experiment_id)}/restore", dict)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        path = f"/experiments/{_segment(experiment_id)}/tags"
        self._call("POST", path, dict, body=w.TagBody(key, value))

    # -- runs --------------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        *,
        run_name: str,
        user_id: str = "",
        start_time: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        body = w.CreateRunBody(experiment_id, run_name, user_id, start_time, dict(tags or {}))
        answer = self._call("POST", "/runs", w.RunBody, body=body, idempotent=False)
        return w.run_of(answer)

    def get_run(self, run_id: str) -> Run:
        return w.run_of(self._call("GET", f"/runs/{_segment(run_id)}", w.RunBody))

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        body = w.UpdateRunBody(status, end_time, run_name)
        return self._call("PATCH", f"/runs/{_segment(run_id)}", RunInfo, body=body)

    def delete_run(self, run_id: str) -> None:
        self._call("DELETE", f"/runs/{_segment(run_id)}", dict)

    def restore_run(self, run_id: str) -> None:
        self._call("POST", f"/runs/{_segment(run_id)}/restore", dict)

    def deleted_runs(self, deleted_before: int | None = None) -> list[DeletedRun]:
        query = {} if deleted_before is None else {"deleted_before": str(deleted_before)}
        return self._call("GET", "/deleted-runs", w.DeletedRunsBody, params=query).runs

    def purge_run(self, run_id: str) -> None:
        self._call("POST", f"/runs/{_segment(run_id)}/purge", dict)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: str = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> RunPage:
        body = w.SearchRunsBody(
            list(experiment_ids),
            filter_string,
            view_type,
            max_results,
            list(order_by or []),
            page_token,
        )
        return w.page_of(self._call("POST", "/runs/search", w.RunPageBody, body=body))

    # -- overviews (the server's /api/v1/ui routes) -------------------------------------------
    def experiment_summaries(
        self, view_type: str = ViewType.ACTIVE_ONLY
    ) -> list[ExperimentSummary]:
        answer = self._call(
            "GET", "/ui/experiments", w.ExperimentSummariesBody, params={"view_type": view_type}
        )
        return answer.experiments

    def run_keys(self, experiment_ids: Sequence[str], max_runs: int = RUN_KEYS_SAMPLE) -> RunKeys:
        params: dict[str, Any] = {"experiment_id": list(experiment_ids), "max_runs": max_runs}
        return self._call("GET", "/ui/keys", RunKeys, params=params)

    def child_counts(self, run_ids: Sequence[str]) -> dict[str, int]:
        body = w.RunIdsBody(list(run_ids))
        return self._call("POST", "/ui/child-counts", w.ChildCountsBody, body=body).counts

    # -- data --------------------------------------------------------------------------------
    def log_columns(
        self,
        run_id: str,
        metrics: Mapping[str, MetricColumns] | None = None,
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
        batch_id: str | None = None,
    ) -> None:
        write = RunWrite(run_id, metrics or {}, params, tags, batch_id)
        rejected = self.ingest([write])
        if rejected:
            raise rejected[0]

    def ingest(self, writes: Sequence[RunWrite]) -> dict[int, RunbaseError]:
        """Send the writes in as few requests as the size allows; each write keeps (or gets) a
        batch id, so a retried request stores nothing twice."""
        rejected: dict[int, RunbaseError] = {}
        for offset, chunk in _chunks(writes):
            bodies = []
            for write in chunk:
                batch_id = uuid.uuid4().hex if write.batch_id is None else write.batch_id
                validate_batch_id(batch_id)
                bodies.append(w.write_body(write._replace(batch_id=batch_id)))
            answer = self._call("POST", "/ingest", w.IngestResponse, body=w.IngestRequest(bodies))
            for item in answer.rejected:
                rejected[offset + item.index] = error_for_code(item.error_code, item.message)
        return rejected

    def delete_tag(self, run_id: str, key: str) -> None:
        path = f"/runs/{_segment(run_id)}/tags"
        self._call("DELETE", path, dict, params={"key": key}, idempotent=False)

    def log_inputs(self, run_id: str, inputs: Sequence[DatasetInput]) -> None:
        path = f"/runs/{_segment(run_id)}/inputs"
        self._call("POST", path, dict, body=w.LogInputsBody(list(inputs)))

    def get_metric_columns(self, run_id: str, key: str) -> MetricColumns:
        return self.get_metric_window(run_id, key)

    def get_metric_window(
        self,
        run_id: str,
        key: str,
        start: int | None = None,
        end: int | None = None,
        *,
        timestamps: bool = True,
    ) -> MetricColumns:
        """The server cuts the window, so only its points travel (with their timestamps), in
        binary: JSON would cost both sides more than everything else in the call."""
        path = f"/runs/{_segment(run_id)}/metrics/{quote(key, safe='/')}"
        params = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
        response = self._transport.request(
            "GET", "/api/v1" + path, idempotent=True, params={**params, "format": "binary"}
        )
        try:
            if response.headers.get("content-type") == w.SERIES_MEDIA_TYPE:
                return w.points_of_bytes(response.content)
            # A server from before the binary form answers JSON.
            answer = msgspec.json.decode(response.content, type=w.HistoryBody)
        except (ValueError, msgspec.DecodeError) as exc:
            raise StoreError(f"Unexpected answer from {self.url} to GET {path}: {exc}") from None
        if answer.points is None:  # only an answer to a request for buckets lacks points
            raise StoreError(f"{self.url} answered {path} without points")
        return w.points_of(answer.points)

    # -- journals and leases -----------------------------------------------------------------
    def append_journal(
        self,
        journal: str,
        entries: Sequence[str],
        *,
        expected_length: int | None = None,
        append_id: str | None = None,
    ) -> int | None:
        """Every append carries an id (a fresh UUID unless given), so a retry after a lost
        answer is stored once."""
        path = f"/journals/{_segment(validate_name('journal name', journal))}"
        items = validate_journal_entries(entries)
        body = w.JournalAppendBody(items, expected_length, append_id or uuid.uuid4().hex)
        return self._call("POST", path, w.JournalAppendResult, body=body).first

    def read_journal(
        self, journal: str, start: int = 0, limit: int = MAX_JOURNAL_BATCH
    ) -> list[str]:
        path = f"/journals/{_segment(validate_name('journal name', journal))}"
        params = {"start": start, "limit": limit}
        return self._call("GET", path, w.JournalEntriesBody, params=params).entries

    def acquire_lease(self, scope: str, key: str, holder: str, ttl: float) -> bool:
        path = _lease_path(scope, key)
        body = w.AcquireLeaseBody(holder, ttl)
        return self._call("POST", path, w.LeaseResultBody, body=body).ok

    def release_lease(self, scope: str, key: str, holder: str) -> bool:
        path = _lease_path(scope, key)
        answer = self._call(
            "DELETE", path, w.LeaseResultBody, params={"holder": holder}, idempotent=False
        )
        return answer.ok

    def list_leases(self, scope: str) -> list[Lease]:
        path = f"/leases/{_segment(validate_name('lease scope', scope))}"
        answer = self._call("GET", path, w.LeaseListBody)
        return [
            Lease(scope, x.key, x.holder, x.acquired_time, x.expires_time, x.expired)
            for x in answer.leases
        ]


def _lease_path(scope: str, key: str) -> str:
    scope, key = validate_name("lease scope", scope), validate_name("lease key", key)
    return f"/leases/{scope}/{key}"


def _segment(value: str) -> str:
    """One URL path segment; an empty value still names a (missing) resource."""
    return quote(value, safe="") or "%20"


def _chunks(writes: Sequence[RunWrite]) -> list[tuple[int, Sequence[RunWrite]]]:
    """Consecutive groups of writes of about MAX_POINTS_PER_REQUEST points, with their offset."""
    out: list[tuple[int, Sequence[RunWrite]]] = []
    start = size = 0
    for index, write in enumerate(writes):
        points = sum(len(c) for c in write.metrics.values())
        if index > start and size + points > MAX_POINTS_PER_REQUEST:
            out.append((start, writes[start:index]))
            start, size = index, 0
        size += points
    if start < len(writes):
        out.append((start, writes[start:]))
    return out
