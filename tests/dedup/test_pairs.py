"""DuplicatePairs: parallel arrays, rows, selection."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.dedup import DuplicatePairs, Pair
from simsearch.errors import DataError


def test_rows_are_python_scalars() -> None:
    pairs = DuplicatePairs(np.array([1, 2]), np.array([3, 4]), [0.5, 0.25], [0.9, 0.8])
    assert len(pairs) == 2
    rows = list(pairs)
    assert rows[0] == Pair(1, 3, 0.5, pytest.approx(0.9))
    assert isinstance(rows[0].left_id, int) and isinstance(rows[0].distance, float)
    assert (
        pairs.distances.dtype == np.float32 and pairs.scores is not None and pairs.scores.dtype == np.float32
    )


def test_unscored_rows_have_no_score() -> None:
    pairs = DuplicatePairs(np.array(["a"], object), np.array(["b"], object), [0.1])
    assert list(pairs) == [Pair("a", "b", pytest.approx(0.1), None)]


def test_select_keeps_columns_parallel() -> None:
    pairs = DuplicatePairs(np.array([1, 2, 3]), np.array([4, 5, 6]), [0.1, 0.2, 0.3], [0.7, 0.8, 0.9])
    picked = pairs.select(pairs.distances > 0.15)
    assert picked.left_ids.tolist() == [2, 3] and picked.scores is not None and len(picked.scores) == 2


def test_empty() -> None:
    pairs = DuplicatePairs.empty(object, scored=True)
    assert len(pairs) == 0 and pairs.left_ids.dtype == object and list(pairs) == []


def test_columns_of_different_lengths_are_an_error() -> None:
    with pytest.raises(DataError, match=r"Expected parallel \(n,\) arrays\. Received"):
        DuplicatePairs(np.array([1, 2]), np.array([3]), [0.1, 0.2])
