"""`one_to_one` on hand-made candidate pairs where greedy and the Hungarian assignment differ."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.dedup import DuplicatePairs, one_to_one
from simsearch.errors import ConfigError

# a-x is the strongest pair; a-y + b-x is the best total.
SCORED = DuplicatePairs(
    ["a", "a", "b", "c"], ["x", "y", "x", "z"], [0.1, 0.2, 0.15, 0.5], [0.9, 0.8, 0.85, 0.4]
)


def rows(pairs: DuplicatePairs) -> list[tuple[object, object]]:
    return list(zip(pairs.left_ids.tolist(), pairs.right_ids.tolist(), strict=True))


@pytest.mark.parametrize(
    ("method", "expected"),
    [("greedy", [("a", "x"), ("c", "z")]), ("hungarian", [("b", "x"), ("a", "y"), ("c", "z")])],
    ids=["greedy", "hungarian"],
)
def test_each_item_in_at_most_one_match(method: str, expected: list[tuple[str, str]]) -> None:
    chosen = one_to_one(SCORED, method)  # type: ignore[arg-type]
    assert rows(chosen) == expected
    assert len(set(chosen.left_ids.tolist())) == len(chosen) == len(set(chosen.right_ids.tolist()))


def test_without_scores_the_nearest_wins() -> None:
    pairs = DuplicatePairs([0, 0, 1], [5, 6, 5], [0.3, 0.1, 0.2])
    assert rows(one_to_one(pairs)) == [(0, 6), (1, 5)]
    assert one_to_one(pairs).left_ids.dtype == np.int64


def test_no_pairs_and_bad_method() -> None:
    assert len(one_to_one(DuplicatePairs.empty(scored=True))) == 0
    with pytest.raises(ConfigError, match="greedy"):
        one_to_one(SCORED, "best")  # type: ignore[arg-type]
