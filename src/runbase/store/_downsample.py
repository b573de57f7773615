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

__all__ = ["MAX_BUCKETS", "Buckets", "downsample", "window"]

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


def window(cols: MetricColumns, start: int | None = None, end: int | None = None) -> MetricColumns:
    """The points with ``start <= step <= end`` (either bound may be None) of a step-sorted
    series, as views (no copy)."""
    if start is not None and end is not None and start > end:
        raise InvalidInputError(f"Invalid step window: start={start} is after end={end}")
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
    index = np.minimum(
        ((steps.astype(np.float64) - float(lo)) / width).astype(np.int64), buckets - 1
    )
    starts = np.flatnonzero(np.diff(index, prepend=-1))
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
        min_step=steps[_first_match(values, mins, starts, counts)],
        max=maxs,
        max_step=steps[_first_match(values, maxs, starts, counts)],
    )


def _first_match(values: F64, targets: F64, starts: I64, counts: I64) -> I64:
    """Per bucket, the position of the first value equal to the bucket's target (the bucket's
    first position when nothing matches: an all-NaN bucket)."""
    n = values.shape[0]
    matches = values == np.repeat(targets, counts)
    positions = np.where(matches, np.arange(n), n)
    first: I64 = np.minimum.reduceat(positions, starts)
    return np.where(first == n, starts, first)
