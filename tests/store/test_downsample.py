"""Chart buckets: no peak lost, windows, NaN, and the cost on a million points."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from runbase.errors import InvalidInputError
from runbase.store import MetricColumns
from runbase.store._downsample import bucket_starts, downsample, window


def _series(
    values: list[float] | np.ndarray, steps: list[int] | np.ndarray | None = None
) -> MetricColumns:
    vals = np.asarray(values, dtype=np.float64)
    st = np.arange(vals.shape[0]) if steps is None else np.asarray(steps, dtype=np.int64)
    return MetricColumns(st.astype(np.int64), st.astype(np.int64) * 10, vals)


def test_each_bucket_keeps_first_last_min_max() -> None:
    cols = _series([5, 1, 9, 3, 4, 4, 8, 0, 2, 7])
    b = downsample(cols, 2)
    assert b.first_step.tolist() == [0, 5] and b.last_step.tolist() == [4, 9]
    assert b.counts.tolist() == [5, 5]
    assert b.first.tolist() == [5, 4] and b.last.tolist() == [4, 7]
    assert b.min.tolist() == [1, 0] and b.min_step.tolist() == [1, 7]
    assert b.max.tolist() == [9, 8] and b.max_step.tolist() == [2, 6]


def test_a_single_spike_survives() -> None:
    values = np.zeros(1_000_000)
    values[654_321] = 100.0
    values[123_456] = -3.0
    b = downsample(_series(values), 100)
    assert len(b) == 100
    assert b.max.max() == 100.0 and 654_321 in b.max_step.tolist()
    assert b.min.min() == -3.0 and 123_456 in b.min_step.tolist()
    assert int(b.counts.sum()) == 1_000_000


def test_buckets_are_step_ranges_and_empty_ones_are_left_out() -> None:
    cols = _series([1, 2, 3, 4], steps=[0, 1, 98, 99])
    b = downsample(cols, 10)
    assert (b.first_step.tolist(), b.last_step.tolist()) == ([0, 98], [1, 99])


def test_window() -> None:
    cols = _series(list(range(100)))
    part = window(cols, 10, 19)
    assert part.steps.tolist() == list(range(10, 20))
    assert window(cols, None, 4).steps.tolist() == [0, 1, 2, 3, 4]
    assert len(window(cols, 200, None)) == 0
    b = downsample(cols, 2, start=10, end=19)
    assert (b.first_step.tolist(), b.last_step.tolist()) == ([10, 15], [14, 19])
    with pytest.raises(InvalidInputError, match="window"):
        window(cols, 5, 4)


def test_nan_and_infinities() -> None:
    cols = _series([math.nan, math.nan, math.nan, 1.0, math.inf, math.nan, -math.inf, 2.0])
    b = downsample(cols, 4)
    assert math.isnan(b.min[0]) and math.isnan(b.max[0]) and b.min_step[0] == 0
    assert b.min[1] == 1.0 and b.max[1] == 1.0 and b.min_step[1] == 3
    assert b.max[2] == math.inf and b.max_step[2] == 4 and b.min[2] == math.inf
    assert b.min[3] == -math.inf and b.min_step[3] == 6 and b.max[3] == 2.0


def test_repeated_steps_and_huge_step_range() -> None:
    steps = np.array([-(2**62), 0, 0, 2**62], dtype=np.int64)
    b = downsample(_series([1.0, 2.0, 3.0, 4.0], steps), 3)
    assert b.counts.tolist() == [1, 2, 1]
    assert b.first.tolist() == [1.0, 2.0, 4.0] and b.last.tolist() == [1.0, 3.0, 4.0]


def test_empty_series_and_bad_bucket_counts() -> None:
    assert len(downsample(_series([]), 10)) == 0
    for bad in (0, -1, 10**6, True):
        with pytest.raises(InvalidInputError, match="buckets"):
            downsample(_series([1.0]), bad)


def test_a_million_points_is_fast() -> None:
    cols = _series(np.random.default_rng(0).normal(size=1_000_000))
    downsample(cols, 2000)  # warm up
    begin = time.perf_counter()
    downsample(cols, 2000)
    assert time.perf_counter() - begin < 0.2  # about 20 ms here; generous for a loaded machine


def _reference_starts(steps: np.ndarray, lo: int, width: float, buckets: int) -> list[int]:
    """Bucket starts by the per-point formula the boundaries must reproduce exactly."""
    index = np.minimum(
        ((steps.astype(np.float64) - float(lo)) / width).astype(np.int64), buckets - 1
    )
    return np.flatnonzero(np.diff(index, prepend=-1)).tolist()


@pytest.mark.parametrize("span", [60, 10**6, 10**15, 2**62])
def test_bucket_boundaries_match_the_per_point_formula(span: int) -> None:
    rng = np.random.default_rng(span % 1000)
    for _ in range(300):
        steps = np.sort(rng.integers(-span, span, int(rng.integers(1, 300)))).astype(np.int64)
        buckets = int(rng.integers(1, 500))
        lo = int(steps[0]) - int(rng.integers(0, 3))
        width = (float(steps[-1]) - float(lo) + 1.0) / buckets
        got = bucket_starts(steps, lo, width, buckets).tolist()
        assert got == _reference_starts(steps, lo, width, buckets)


def test_min_and_max_steps_are_the_first_occurrence_in_their_bucket() -> None:
    # Bucket 0 holds the value 1 twice and bucket 1 holds it too: each finds its own first.
    cols = _series([3, 1, 1, 2, 1, 1, 9, 9], steps=[0, 1, 2, 3, 4, 5, 6, 7])
    b = downsample(cols, 2)
    assert b.min_step.tolist() == [1, 4] and b.max_step.tolist() == [0, 6]
