"""Chart data for long metric series: a step window, then per-bucket first/last/min/max.

A chart a few thousand pixels wide cannot show a million points, and plain decimation (every k-th
point) drops exactly the spikes a user is looking for. :func:`downsample` splits the step range
into equal-width buckets and keeps, for each non-empty bucket, its first and last point and its
minimum and maximum with the steps where they occur; drawing those four points per bucket gives
the same picture as drawing every point. Everything is vectorised with numpy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from runbase.errors import InvalidInputError
from runbase.store.base import MetricColumns

__all__ = [
    "MAX_BUCKETS",
    "Buckets",
    "bucket_starts",
    "check_window",
    "downsample",
    "first_match",
    "window",
]

#: More buckets than this is not chart data any more: ask for the raw points.
MAX_BUCKETS = 100_000

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class Buckets(NamedTuple):
    """Non-empty buckets in step order, as parallel arrays.

    ``counts`` holds each bucket's number of points; ``first_step``/``last_step`` are the steps
    of the bucket's first and last points (its step range); ``min``/``max`` ignore NaN and are
    NaN only when every value in the bucket is; ``min_step``/``max_step`` are the steps where
    they first occur (the bucket's first step when NaN).
    """

    first_step: I64
    last_step: I64
    counts: I64
    first: F64
    last: F64
    min: F64
    min_step: I64
    max: F64
    max_step: I64

    def __len__(self) -> int:
        return int(self.counts.shape[0])


def check_window(start: int | None, end: int | None) -> None:
    """Refuse a step window that ends before it starts."""
    if start is not None and end is not None and start > end:
        raise InvalidInputError(f"Invalid step window: start={start} is after end={end}")


def window(cols: MetricColumns, start: int | None = None, end: int | None = None) -> MetricColumns:
    """The points with ``start <= step <= end`` (either bound may be None) of a step-sorted
    series, as views (no copy)."""
    check_window(start, end)
    lo = 0 if start is None else int(np.searchsorted(cols.steps, start, side="left"))
    hi = len(cols) if end is None else int(np.searchsorted(cols.steps, end, side="right"))
    return MetricColumns(cols.steps[lo:hi], cols.timestamps[lo:hi], cols.values[lo:hi])


def downsample(
    cols: MetricColumns, buckets: int, start: int | None = None, end: int | None = None
) -> Buckets:
    """Bucket a step-sorted series (as :meth:`Store.get_metric_columns` returns it).

    The window ``[start, end]`` (default: the series' first and last step) is cut into
    ``buckets`` ranges of equal width; empty ones are left out.
    """
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidInputError(f"buckets must be an integer from 1 to {MAX_BUCKETS}: {buckets!r}")
    steps, _, values = window(cols, start, end)
    n = int(steps.shape[0])
    if n == 0:
        empty_i, empty_f = np.empty(0, np.int64), np.empty(0, np.float64)
        return Buckets(
            empty_i, empty_i, empty_i, empty_f, empty_f, empty_f, empty_i, empty_f, empty_i
        )
    lo = int(steps[0]) if start is None else start
    hi = int(steps[-1]) if end is None else end
    # Float arithmetic: int64 steps far apart would overflow ``(steps - lo) * buckets``.
    width = (float(hi) - float(lo) + 1.0) / buckets
    starts = bucket_starts(steps, lo, width, buckets)
    ends = np.append(starts[1:], n)
    counts = (ends - starts).astype(np.int64)
    with np.errstate(invalid="ignore"):
        mins = np.fmin.reduceat(values, starts)
        maxs = np.fmax.reduceat(values, starts)
    return Buckets(
        first_step=steps[starts],
        last_step=steps[ends - 1],
        counts=counts,
        first=values[starts],
        last=values[ends - 1],
        min=mins,
        min_step=steps[first_match(values, mins, starts, counts)],
        max=maxs,
        max_step=steps[first_match(values, maxs, starts, counts)],
    )


def bucket_starts(steps: I64, lo: int, width: float, buckets: int | None = None) -> I64:
    """Positions of the first point of each non-empty bucket of a step-sorted series whose
    steps are all ``>= lo``; point ``i`` is in bucket ``int((steps[i] - lo) / width)``, computed
    in floats, or the last bucket (``buckets - 1``) when that is further.

    The series is not walked point by point: each bucket boundary (the first step whose bucket
    is ``k`` or later) is found from that same formula, then looked up with a binary search, so
    a million points cost a few thousand searches instead of a dozen passes over the arrays.
    """
    n = int(steps.shape[0])
    cap = _NO_CAP if buckets is None else buckets - 1
    last = min(int(_bucket_of(steps[-1:], lo, width)[0]), cap) if n else 0
    if last <= 0:
        return np.zeros(min(n, 1), np.int64)
    edges = _bucket_edges(lo, width, last, steps)
    if edges is None:  # steps too large for exact float arithmetic: walk the points
        index = np.minimum(_bucket_of(steps, lo, width), cap)
        return np.flatnonzero(np.diff(index, prepend=-1)).astype(np.int64)
    positions = np.searchsorted(steps, edges, side="left")
    positions = positions[positions < n]
    return np.unique(np.concatenate([np.zeros(1, np.int64), positions])).astype(np.int64)


_NO_CAP = np.iinfo(np.int64).max
#: Integers up to this size are exact in a float64, so a bucket edge found with them is exact.
_EXACT = 2**52


def _bucket_of(steps: I64, lo: int, width: float) -> I64:
    """Bucket numbers before the clamp to the last bucket (one formula for points and edges)."""
    index: I64 = ((steps.astype(np.float64) - float(lo)) / width).astype(np.int64)
    return index


def _bucket_edges(lo: int, width: float, last: int, steps: I64) -> I64 | None:
    """For ``k = 1 .. last``, the smallest integer step in bucket ``k`` or later; None when the
    steps are too large for the search to be exact."""
    if max(abs(lo), abs(int(steps[0])), abs(int(steps[-1]))) >= _EXACT or last >= _EXACT:
        return None
    k = np.arange(1, last + 1, dtype=np.int64)
    # A first guess from the edge's position, then nudged until it is the first step whose
    # bucket (by the very formula each point would get) is k: rounding may put it one off.
    edge: I64 = np.ceil(float(lo) + k * width).astype(np.int64)
    for _ in range(4):
        early = _bucket_of(edge - 1, lo, width) >= k
        late = _bucket_of(edge, lo, width) < k
        if not (early.any() or late.any()):
            return edge
        edge = edge - early.astype(np.int64) + late.astype(np.int64)
    return None


def first_match(values: F64, targets: F64, starts: I64, counts: I64) -> I64:
    """Per bucket, the position of the first value equal to the bucket's target (the bucket's
    first position when nothing matches: an all-NaN bucket)."""
    hits = np.flatnonzero(values == np.repeat(targets, counts))
    if hits.shape[0] == 0:
        return starts
    # The first hit at or after each bucket's start, if it is still inside the bucket.
    at = np.minimum(np.searchsorted(hits, starts), hits.shape[0] - 1)
    found = hits[at]
    return np.where((found >= starts) & (found < starts + counts), found, starts).astype(np.int64)
