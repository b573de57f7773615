"""Unpacking chunk rows into arrays, when the count taken before reading them is off."""

from __future__ import annotations

import numpy as np
import pytest

from runbase.store.sql._metrics import _unpack


def _rows(sizes: list[int]) -> list[tuple[bytes, bytes]]:
    rows, first = [], 0
    for size in sizes:
        steps = np.arange(first, first + size, dtype="<i8")
        rows.append((steps.tobytes(), (steps * 0.5).astype("<f8").tobytes()))
        first += size
    return rows


@pytest.mark.parametrize("counted", [0, 3, 10, 50])
def test_unpack_holds_exactly_the_rows_whatever_was_counted(counted: int) -> None:
    steps, values = _unpack(_rows([4, 1, 5]), counted, 2)
    assert steps.dtype == np.int64 and values.dtype == np.float64
    assert steps.tolist() == list(range(10)) and values.tolist() == [s * 0.5 for s in range(10)]
    steps[0] = 7  # callers may change what they get
