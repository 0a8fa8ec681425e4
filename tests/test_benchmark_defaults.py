"""The paired test-set comparison of `benchmarks/defaults.py` (the RESULTS "defaults" table)
against hand-worked cases."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not installed

from benchmarks import defaults


def test_identical_scorers_differ_by_exactly_zero() -> None:
    hits = np.array([True, False, True, True])
    assert defaults.paired_difference(defaults._mean, (hits,), (hits,), 4) == [0.0, 0.0, 0.0]


def test_a_scorer_right_everywhere_the_other_is_wrong_differs_by_one_in_every_resample() -> None:
    right = np.ones(10, bool)
    assert defaults.paired_difference(defaults._mean, (right,), (~right,), 10) == [1.0, 1.0, 1.0]


def test_one_query_of_many_is_a_tie_not_a_loss() -> None:
    trained = np.ones(400, bool)
    trained[0] = False
    point, low, high = defaults.paired_difference(defaults._mean, (trained,), (np.ones(400, bool),), 400)
    assert point == pytest.approx(-1 / 400)
    assert low < 0 <= high  # resamples without query 0 differ by nothing


def test_pair_differences_threshold_each_scorer_at_its_own_threshold() -> None:
    y = np.array([1, 1, 0, 0, 1, 0])
    # trained decides 0.6+ (all right: F1 1); baseline decides 0.1+ (all six: F1 2*3/(6+3))
    trained = {"labels": y, "scores": np.array([0.9, 0.8, 0.2, 0.1, 0.7, 0.3]), "threshold_score": 0.6}
    scores = np.array([0.5, 0.4, 0.6, 0.2, 0.3, 0.1])
    baseline = {"labels": y.copy(), "scores": scores, "threshold_score": 0.1}
    diff = defaults.pair_differences(trained, baseline)
    assert diff["f1"][0] == pytest.approx(1 - 6 / 9)
    # baseline AP by hand: ranks 0.6(0) 0.5(1) 0.4(1) 0.3(1) 0.2(0) 0.1(0): (1/2 + 2/3 + 3/4) / 3
    assert diff["average_precision"][0] == pytest.approx(1 - (1 / 2 + 2 / 3 + 3 / 4) / 3)
    assert "scores" not in trained and "labels" not in baseline  # not written to the JSON
