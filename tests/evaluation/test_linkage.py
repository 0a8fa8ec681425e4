"""Precision, recall and F1 of found links against true ones, against hand-counted cases."""

from __future__ import annotations

import pytest

from simsearch.evaluation.linkage import linkage_scores

CASES = [
    # true, found, (found and true, precision, recall, f1) counted by hand
    ({("a", "b"), ("c", "d"), ("e", "f")}, {("a", "b"), ("c", "d"), ("a", "c")}, (2, 2 / 3, 2 / 3, 2 / 3)),
    ({("a", "b")}, {("a", "b"), ("a", "c"), ("b", "c"), ("e", "f")}, (1, 1 / 4, 1.0, 0.4)),
    ({("a", "b"), ("c", "d")}, set(), (0, 0.0, 0.0, 0.0)),
    (set(), {("a", "b")}, (0, 0.0, 0.0, 0.0)),
    ({("a", "b"), ("c", "d")}, {("a", "b"), ("c", "d")}, (2, 1.0, 1.0, 1.0)),
]


@pytest.mark.parametrize(
    ("true", "found", "expected"), CASES, ids=["some", "loose", "none-found", "none-true", "all"]
)
def test_linkage_scores_against_hand_counts(true: set, found: set, expected: tuple) -> None:
    scores = linkage_scores(true, found)
    assert (scores["true links"], scores["found links"]) == (len(true), len(found))
    got = (scores["found and true"], scores["precision"], scores["recall"], scores["f1"])
    assert got == pytest.approx(expected)
