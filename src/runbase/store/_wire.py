"""The native API's wire format (``/api/v1``): msgspec schemas shared by the server and
:class:`~runbase.store.http.HttpStore`, and the conversions to and from runbase's entities.

JSON has no NaN or infinity, so a metric value is a number or one of the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"``; the schema says so and the decoder enforces it. Series travel
as parallel arrays (``steps``, ``timestamps``, ``values``): compact, and one ``numpy`` call away
from :class:`~runbase.store.MetricColumns`.
"""

from __future__ import annotations

import math
from typing import Final, Literal, TypeAlias

import msgspec
import numpy as np
import numpy.typing as npt

from runbase.entities import (
    DatasetInput,
    Experiment,
    MetricSummary,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunTag,
    ViewType,
)
from runbase.errors import AlreadyExistsError, InvalidInputError, NotFoundError, RunbaseError
from runbase.store import _downsample
from runbase.store.base import DeletedRun, ExperimentSummary, MetricColumns, RunPage, RunWrite

#: A float that survives JSON: a number, or a string naming a non-finite value.
WireFloat: TypeAlias = float | Literal["NaN", "Infinity", "-Infinity"]

_NON_FINITE: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class _Body(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Base of request and response bodies: unknown fields are an error, not silently ignored."""


# -- errors --------------------------------------------------------------------------------------
class ErrorBody(_Body):
    """Every error answer: ``error_code`` is MLflow's (``RESOURCE_DOES_NOT_EXIST``...)."""

    error_code: str
    message: str


_STATUS: Final[dict[str, int]] = {
    InvalidInputError.error_code: 400,
    NotFoundError.error_code: 404,
    AlreadyExistsError.error_code: 409,
}


def error_status(exc: RunbaseError) -> int:
    """400 invalid input, 404 not found, 409 already exists, 500 anything else."""
    return _STATUS.get(exc.error_code, 500)


# -- ingest --------------------------------------------------------------------------------------
class Series(_Body):
    key: str
    steps: list[int]
    timestamps: list[int]
    values: list[WireFloat]


class WriteBody(_Body):
    """One run's write: what ``Store.log_columns`` takes. ``batch_id`` makes it idempotent."""

    run_id: str
    batch_id: str | None = None
    metrics: list[Series] = msgspec.field(default_factory=list)
    params: list[Param] = msgspec.field(default_factory=list)
    tags: list[RunTag] = msgspec.field(default_factory=list)


class IngestRequest(_Body):
    """Many runs' writes, applied in order; each one atomic."""

    writes: list[WriteBody]


class Rejection(_Body):
    index: int
    run_id: str
    error_code: str
    message: str


class IngestResponse(_Body):
    """The writes the store refused for good, by index; every other write is stored."""

    rejected: list[Rejection] = msgspec.field(default_factory=list)


# -- experiments ---------------------------------------------------------------------------------
class CreateExperimentBody(_Body):
    name: str
    artifact_location: str | None = None
    tags: dict[str, str] = msgspec.field(default_factory=dict)


class ExperimentIdBody(_Body):
    experiment_id: str


class ExperimentListBody(_Body):
    experiments: list[Experiment]


class ExperimentByNameBody(_Body):
    experiment: Experiment | None = None


class ExperimentSummariesBody(_Body):
    experiments: list[ExperimentSummary]


# -- run trees -----------------------------------------------------------------------------------
class RunIdsBody(_Body):
    run_ids: list[str]


class ChildCountsBody(_Body):
    #: Child runs per parent run id; parents without children are left out.
    counts: dict[str, int]


# -- journals and leases -------------------------------------------------------------------------
class JournalAppendBody(_Body):
    entries: list[str]
    expected_length: int | None = None
    append_id: str | None = None


class JournalAppendResult(_Body):
    #: Number of the first entry appended; absent when ``expected_length`` did not match.
    first: int | None = None


class JournalEntriesBody(_Body):
    entries: list[str]


class AcquireLeaseBody(_Body):
    holder: str
    #: Seconds.
    ttl: float


class LeaseResultBody(_Body):
    ok: bool


class LeaseBody(_Body):
    key: str
    holder: str
    acquired_time: int
    expires_time: int
    expired: bool


class LeaseListBody(_Body):
    leases: list[LeaseBody]


class RenameExperimentBody(_Body):
    new_name: str


class TagBody(_Body):
    key: str
    value: str


# -- runs ----------------------------------------------------------------------------------------
class CreateRunBody(_Body):
    experiment_id: str
    run_name: str
    user_id: str = ""
    start_time: int | None = None
    tags: dict[str, str] = msgspec.field(default_factory=dict)


class UpdateRunBody(_Body):
    status: str | None = None
    end_time: int | None = None
    run_name: str | None = None


class SearchRunsBody(_Body):
    experiment_ids: list[str]
    filter: str | None = None
    view_type: str = ViewType.ACTIVE_ONLY
    max_results: int = 1000
    order_by: list[str] = msgspec.field(default_factory=list)
    page_token: str | None = None


class SummaryBody(_Body):
    key: str
    last: WireFloat
    last_step: int
    last_timestamp: int
    min: WireFloat | None
    max: WireFloat | None
    count: int


class RunDataBody(_Body):
    metrics: dict[str, WireFloat] = msgspec.field(default_factory=dict)
    params: dict[str, str] = msgspec.field(default_factory=dict)
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    summaries: dict[str, SummaryBody] = msgspec.field(default_factory=dict)


class RunBody(_Body):
    info: RunInfo
    data: RunDataBody
    inputs: RunInputs = msgspec.field(default_factory=RunInputs)


class DeletedRunsBody(_Body):
    runs: list[DeletedRun]


class RunPageBody(_Body):
    runs: list[RunBody]
    next_page_token: str | None = None


class LogInputsBody(_Body):
    inputs: list[DatasetInput]


# -- metric history ------------------------------------------------------------------------------
class PointsBody(_Body):
    steps: list[int]
    timestamps: list[int]
    values: list[WireFloat]


class BucketsBody(_Body):
    """Per-bucket chart data (see :mod:`runbase.store._downsample`), as parallel arrays."""

    first_step: list[int]
    last_step: list[int]
    count: list[int]
    first: list[WireFloat]
    last: list[WireFloat]
    min: list[WireFloat]
    min_step: list[int]
    max: list[WireFloat]
    max_step: list[int]


class HistoryBody(_Body):
    """A metric's points in the step window: ``points`` when there are at most ``buckets`` of
    them (or no bucketing was asked for), else ``buckets``. ``total`` counts the window's
    points."""

    run_id: str
    key: str
    total: int
    points: PointsBody | None = None
    buckets: BucketsBody | None = None


# -- conversions ---------------------------------------------------------------------------------
def wire_float(value: float) -> WireFloat:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def wire_floats(values: npt.NDArray[np.float64]) -> list[WireFloat]:
    out: list[WireFloat] = values.tolist()
    bad = ~np.isfinite(values)
    if bad.any():
        for i in np.flatnonzero(bad).tolist():
            out[i] = wire_float(out[i])  # type: ignore[arg-type]
    return out


def float_of(value: WireFloat) -> float:
    return _NON_FINITE[value] if isinstance(value, str) else float(value)


def floats_of(values: list[WireFloat]) -> npt.NDArray[np.float64]:
    # numpy parses the three strings itself; the schema already refused any other string.
    return np.array(values, dtype=np.float64)


def series_body(key: str, cols: MetricColumns) -> Series:
    return Series(key, cols.steps.tolist(), cols.timestamps.tolist(), wire_floats(cols.values))


def series_columns(series: Series) -> MetricColumns:
    return MetricColumns(
        np.array(series.steps, dtype=np.int64),
        np.array(series.timestamps, dtype=np.int64),
        floats_of(series.values),
    )


def write_body(write: RunWrite) -> WriteBody:
    return WriteBody(
        run_id=write.run_id,
        batch_id=write.batch_id,
        metrics=[series_body(k, c) for k, c in write.metrics.items()],
        params=list(write.params),
        tags=list(write.tags),
    )


def write_of(body: WriteBody) -> RunWrite:
    metrics: dict[str, MetricColumns] = {}
    for series in body.metrics:
        if series.key in metrics:
            raise InvalidInputError(f"Metric {series.key!r} appears twice in one write")
        if not len(series.steps) == len(series.timestamps) == len(series.values):
            raise InvalidInputError(
                f"Metric {series.key!r}: steps, timestamps and values must have one length"
            )
        metrics[series.key] = series_columns(series)
    return RunWrite(body.run_id, metrics, body.params, body.tags, body.batch_id)


def run_body(run: Run) -> RunBody:
    data = run.data
    return RunBody(
        info=run.info,
        data=RunDataBody(
            metrics={k: wire_float(x) for k, x in data.metrics.items()},
            params=data.params,
            tags=data.tags,
            summaries={k: _summary_body(s) for k, s in data.summaries.items()},
        ),
        inputs=run.inputs,
    )


def _summary_body(s: MetricSummary) -> SummaryBody:
    return SummaryBody(
        key=s.key,
        last=wire_float(s.last),
        last_step=s.last_step,
        last_timestamp=s.last_timestamp,
        min=None if s.min is None else wire_float(s.min),
        max=None if s.max is None else wire_float(s.max),
        count=s.count,
    )


def run_of(body: RunBody) -> Run:
    data = body.data
    return Run(
        info=body.info,
        data=RunData(
            metrics={k: float_of(x) for k, x in data.metrics.items()},
            params=data.params,
            tags=data.tags,
            summaries={k: _summary_of(s) for k, s in data.summaries.items()},
        ),
        inputs=body.inputs,
    )


def _summary_of(s: SummaryBody) -> MetricSummary:
    return MetricSummary(
        key=s.key,
        last=float_of(s.last),
        last_step=s.last_step,
        last_timestamp=s.last_timestamp,
        min=None if s.min is None else float_of(s.min),
        max=None if s.max is None else float_of(s.max),
        count=s.count,
    )


def page_body(page: RunPage) -> RunPageBody:
    return RunPageBody([run_body(r) for r in page.runs], page.next_page_token)


def page_of(body: RunPageBody) -> RunPage:
    return RunPage([run_of(r) for r in body.runs], body.next_page_token)


def points_body(cols: MetricColumns) -> PointsBody:
    return PointsBody(cols.steps.tolist(), cols.timestamps.tolist(), wire_floats(cols.values))


def points_of(body: PointsBody) -> MetricColumns:
    return MetricColumns(
        np.array(body.steps, dtype=np.int64),
        np.array(body.timestamps, dtype=np.int64),
        floats_of(body.values),
    )


#: The binary form of a history's points (``?format=binary``): the steps, the timestamps and the
#: values of its ``n`` points, each as ``n`` little-endian 8-byte numbers (int64, int64, float64),
#: one after the other. A 100,000-point history is 2.4 MB of it, read with three ``frombuffer``;
#: as JSON it is 2.8 MB of text that takes tens of milliseconds to write and to parse.
SERIES_MEDIA_TYPE: Final = "application/vnd.runbase.series"
_POINT_BYTES: Final = 24


def points_bytes(cols: MetricColumns) -> bytes:
    return b"".join(
        (
            cols.steps.astype("<i8", copy=False).tobytes(),
            cols.timestamps.astype("<i8", copy=False).tobytes(),
            cols.values.astype("<f8", copy=False).tobytes(),
        )
    )


def points_of_bytes(data: bytes) -> MetricColumns:
    if len(data) % _POINT_BYTES:
        raise ValueError(f"{len(data)} bytes is not a whole number of points")
    n = len(data) // _POINT_BYTES
    # One writable copy each: the arrays outlive the answer and callers may change them.
    steps = np.frombuffer(data, "<i8", n, 0).astype(np.int64)
    stamps = np.frombuffer(data, "<i8", n, 8 * n).astype(np.int64)
    values = np.frombuffer(data, "<f8", n, 16 * n).astype(np.float64)
    return MetricColumns(steps, stamps, values)


def buckets_body(b: _downsample.Buckets) -> BucketsBody:
    return BucketsBody(
        first_step=b.first_step.tolist(),
        last_step=b.last_step.tolist(),
        count=b.counts.tolist(),
        first=wire_floats(b.first),
        last=wire_floats(b.last),
        min=wire_floats(b.min),
        min_step=b.min_step.tolist(),
        max=wire_floats(b.max),
        max_step=b.max_step.tolist(),
    )
