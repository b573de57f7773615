"""Chart data for the web UI: many runs' series on one shared step grid, peaks kept.

A chart of 100 runs × 10,000 steps is drawn from a few hundred thousand points at most. Each
series is cut into the same ``buckets`` equal step ranges over one window (so the runs line up
on the x axis), and each bucket keeps its minimum and its maximum point, in step order, plus the
window's first and last point: the line through them covers exactly the vertical span of the
points it replaces, so no spike is lost. Zooming asks again with a narrower window, which brings
back the detail. A window with no more points than buckets comes back whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec
import numpy as np
import numpy.typing as npt

from runbase.errors import InvalidInputError
from runbase.store import _downsample
from runbase.store.base import MetricColumns, Store

__all__ = [
    "MAX_SERIES",
    "SeriesBody",
    "SeriesData",
    "SeriesRequest",
    "extreme_indices",
    "series",
]

#: Series (runs × keys) one request may ask for.
MAX_SERIES: Final = 2000
MAX_BUCKETS: Final = 20_000

I64 = npt.NDArray[np.int64]


class SeriesRequest(msgspec.Struct, forbid_unknown_fields=True):
    run_ids: list[str]
    keys: list[str]
    #: Buckets over the window; about the chart's width in pixels.
    buckets: int = 1000
    #: The step window (inclusive); default: the first and last step of all the series.
    start: int | None = None
    end: int | None = None
    #: Also send each point's timestamp (ms), for a wall-time axis.
    timestamps: bool = False


class SeriesData(msgspec.Struct):
    run_id: str
    key: str
    #: Points of the series inside the window, before bucketing.
    total: int
    steps: list[int]
    #: None where the value is NaN or infinite: a gap in the line.
    values: list[float | None]
    timestamps: list[int] = msgspec.field(default_factory=list)


class SeriesBody(msgspec.Struct):
    series: list[SeriesData]
    #: The window every series was cut on (None when there are no points at all).
    start: int | None
    end: int | None
    buckets: int


def extreme_indices(steps: I64, values: npt.NDArray[np.float64], lo: int, width: float) -> I64:
    """Positions to keep from a step-sorted series: per bucket of ``width`` steps from ``lo``,
    where its minimum and maximum first occur (NaN-aware), plus the first and last point."""
    n = int(steps.shape[0])
    if n == 0:
        return np.empty(0, np.int64)
    starts = _downsample.bucket_starts(steps, lo, width)
    if starts.shape[0] == n:  # one point per bucket: nothing to drop
        return np.arange(n, dtype=np.int64)
    counts = np.diff(np.append(starts, n))
    with np.errstate(invalid="ignore"):
        mins = np.fmin.reduceat(values, starts)
        maxs = np.fmax.reduceat(values, starts)
    keep = [
        starts[:1],
        np.array([n - 1]),
        # An all-NaN bucket keeps its first point.
        _downsample.first_match(values, mins, starts, counts),
        _downsample.first_match(values, maxs, starts, counts),
    ]
    return np.unique(np.concatenate(keep)).astype(np.int64)


def series(store: Store, request: SeriesRequest) -> SeriesBody:
    """Read and bucket every (run, key) pair of the request."""
    pairs = [(r, k) for r in dict.fromkeys(request.run_ids) for k in dict.fromkeys(request.keys)]
    if len(pairs) > MAX_SERIES:
        raise InvalidInputError(
            f"At most {MAX_SERIES} series (runs × keys) per request; asked for {len(pairs)}"
        )
    if not 1 <= request.buckets <= MAX_BUCKETS:
        raise InvalidInputError(
            f"buckets must be an integer from 1 to {MAX_BUCKETS}: {request.buckets}"
        )
    _downsample.check_window(request.start, request.end)
    columns = [
        store.get_metric_window(r, k, request.start, request.end, timestamps=request.timestamps)
        for r, k in pairs
    ]
    lo, hi = _bounds(columns, request.start, request.end)
    out = []
    for (run_id, key), cols in zip(pairs, columns, strict=True):
        out.append(_data(run_id, key, cols, lo, hi, request))
    return SeriesBody(out, lo, hi, request.buckets)


def _bounds(
    columns: Sequence[MetricColumns], start: int | None, end: int | None
) -> tuple[int | None, int | None]:
    present = [c for c in columns if len(c)]
    lo = start if start is not None else min((int(c.steps[0]) for c in present), default=None)
    hi = end if end is not None else max((int(c.steps[-1]) for c in present), default=None)
    return lo, hi


def _data(
    run_id: str,
    key: str,
    cols: MetricColumns,
    lo: int | None,
    hi: int | None,
    request: SeriesRequest,
) -> SeriesData:
    total = len(cols)
    if total == 0 or lo is None or hi is None:
        return SeriesData(run_id, key, 0, [], [])
    if total > request.buckets:
        width = max(1.0, (float(hi) - float(lo) + 1.0) / request.buckets)
        keep = extreme_indices(cols.steps, cols.values, lo, width)
        steps, stamps, values = cols.steps[keep], cols.timestamps[keep], cols.values[keep]
    else:
        steps, stamps, values = cols
    finite = np.isfinite(values)
    shown: list[float | None] = values.tolist()
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            shown[i] = None
    return SeriesData(
        run_id,
        key,
        total,
        steps.tolist(),
        shown,
        stamps.tolist() if request.timestamps else [],
    )
