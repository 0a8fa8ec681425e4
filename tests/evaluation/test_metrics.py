"""Pair metrics against scikit-learn as the oracle."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.errors import ConfigError, DataError
from simsearch.evaluation import metrics

skm = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the test oracle")


def _random(rng):
    same = rng.integers(0, 2, 400)
    return same, rng.normal(size=400) + same


def _tied(rng):
    same = rng.integers(0, 2, 400)
    return same, np.round(rng.normal(size=400) + same, 1)


def _few_levels(rng):
    same = rng.integers(0, 2, 300)
    return same, rng.integers(0, 4, 300) + same


def _imbalanced(rng):
    same = (rng.random(500) < 0.05).astype(int)
    return same, rng.normal(size=500) + 2 * same


def _all_tied(rng):
    return rng.integers(0, 2, 50), np.full(50, 0.3)


def _separable(rng):
    same = np.r_[np.zeros(20, int), np.ones(20, int)]
    return same, np.r_[rng.random(20), 2 + rng.random(20)]


CASES = {
    "random": _random,
    "tied": _tied,
    "few_levels": _few_levels,
    "imbalanced": _imbalanced,
    "all_tied": _all_tied,
    "separable": _separable,
}


@pytest.fixture(params=list(CASES.values()), ids=list(CASES))
def pairs(request):
    same, scores = request.param(np.random.default_rng(7))
    assert 0 < same.sum() < len(same)  # both classes, or the oracle itself is undefined
    return same, scores


def test_roc_auc_matches_sklearn(pairs):
    same, scores = pairs
    assert metrics.roc_auc(same, scores) == pytest.approx(
        skm.roc_auc_score(same, scores), abs=1e-12
    )


def test_roc_curve_matches_sklearn(pairs):
    same, scores = pairs
    expected = skm.roc_curve(same, scores, drop_intermediate=False)
    for got, want in zip(metrics.roc_curve(same, scores), expected, strict=True):
        np.testing.assert_allclose(got, want)


def test_precision_recall_curve_matches_sklearn(pairs):
    same, scores = pairs
    expected = skm.precision_recall_curve(same, scores)
    for got, want in zip(metrics.precision_recall_curve(same, scores), expected, strict=True):
        np.testing.assert_allclose(got, want)


def test_average_precision_matches_sklearn(pairs):
    same, scores = pairs
    expected = skm.average_precision_score(same, scores)
    assert metrics.average_precision(same, scores) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("quantile", [0.0, 0.3, 0.5, 0.9, 1.0], ids=lambda q: f"q{q}")
def test_pair_metrics_match_sklearn_at_threshold(pairs, quantile):
    same, scores = pairs
    threshold = float(np.quantile(scores, quantile))
    predicted = scores >= threshold
    got = metrics.pair_metrics(same, scores, threshold)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(same, predicted))
    assert got["precision"] == pytest.approx(skm.precision_score(same, predicted, zero_division=0))
    assert got["recall"] == pytest.approx(skm.recall_score(same, predicted, zero_division=0))
    assert got["f1"] == pytest.approx(skm.f1_score(same, predicted, zero_division=0))
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(same, scores))
    assert (got["threshold"], got["n_pairs"], got["n_positive"]) == (
        threshold,
        len(same),
        same.sum(),
    )


def test_confusion_at_matches_sklearn(pairs):
    same, scores = pairs
    threshold = float(np.median(scores))
    tn, fp, fn, tp = skm.confusion_matrix(same, scores >= threshold, labels=[0, 1]).ravel()
    assert metrics.confusion_at(same, scores, threshold) == (tp, fp, tn, fn)


def test_calibrated_threshold_maximises_f1(pairs):
    same, scores = pairs
    threshold = metrics.calibrate_threshold(same, scores)
    predicted = scores[None, :] >= np.unique(scores)[:, None]  # one row per candidate threshold
    tp = (predicted & (same == 1)).sum(axis=1)
    best = (2 * tp / (predicted.sum(axis=1) + same.sum())).max()
    assert threshold in scores
    assert skm.f1_score(same, scores >= threshold) == pytest.approx(best)


def test_calibrated_threshold_maximises_accuracy(pairs):
    same, scores = pairs
    threshold = metrics.calibrate_threshold(same, scores, criterion="accuracy")
    best = max(skm.accuracy_score(same, scores >= t) for t in np.unique(scores))
    assert threshold in scores
    assert skm.accuracy_score(same, scores >= threshold) == pytest.approx(best)


def test_accuracy_and_f1_thresholds_differ_when_most_pairs_are_same():
    # By decreasing score: same = 1 1 0 1 1 0 0 1 0 1. At 0.5: accuracy 0.7, F1 0.727; at 0.1
    # (all same): accuracy 0.6, F1 0.75. F1 takes everything, accuracy stops at 0.5.
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1]
    same = [1, 1, 0, 1, 1, 0, 0, 1, 0, 1]
    assert metrics.calibrate_threshold(same, scores) == 0.1
    assert metrics.calibrate_threshold(same, scores, criterion="accuracy") == 0.5
    with pytest.raises(ConfigError, match=r"criterion in \['f1', 'accuracy'\]"):
        metrics.calibrate_threshold(same, scores, criterion="auc")


# Sorted by score: same = 1 1 0 1 0 0. F1 by threshold: .9 -> 0.5, .8 -> 0.8, .7 -> 0.667,
# .6 -> 0.857, .5 -> 0.75, .4 -> 0.667. Precision: 1, 1, 0.667, 0.75, 0.6, 0.5.
HAND_SAME = [0, 1, 0, 1, 0, 1]
HAND_SCORES = [0.4, 0.8, 0.7, 0.6, 0.5, 0.9]


@pytest.mark.parametrize(
    ("target", "expected"),
    [(None, 0.6), (1.0, 0.8), (0.75, 0.6), (0.7, 0.6), (0.6, 0.5), (0.5, 0.4)],
    ids=["max_f1", "p1.0", "p0.75", "p0.7", "p0.6", "p0.5"],
)
def test_calibrate_threshold_hand_built(target, expected):
    got = metrics.calibrate_threshold(HAND_SAME, HAND_SCORES, target_precision=target)
    assert got == expected


def test_calibrate_threshold_unreachable_precision():
    with pytest.raises(DataError, match=r"precision >= 0.6.*best precision=0.5000"):
        metrics.calibrate_threshold([0, 1], [0.9, 0.1], target_precision=0.6)


@pytest.mark.parametrize("target", [0.0, 1.5, -0.1], ids=["zero", "above_one", "negative"])
def test_calibrate_threshold_rejects_bad_target(target):
    with pytest.raises(ConfigError, match="target_precision"):
        metrics.calibrate_threshold(HAND_SAME, HAND_SCORES, target_precision=target)


def test_same_may_be_boolean():
    same = np.array([False, True, True, False])
    assert metrics.roc_auc(same, [0.1, 0.9, 0.8, 0.2]) == 1.0


@pytest.mark.parametrize(
    ("same", "scores", "match"),
    [
        ([0, 1, 1], [0.1, 0.2], "one score per pair"),
        ([], [], "at least one pair"),
        ([0, 2], [0.1, 0.2], r"in \{0, 1\}"),
        (["a", "b"], [0.1, 0.2], "0/1 numbers"),
        ([0, 1], [0.1, np.nan], "finite scores"),
        ([0, 1], [0.1, np.inf], "finite scores"),
        ([[0, 1]], [[0.1, 0.2]], "1-D"),
        ([1, 1, 1], [0.1, 0.2, 0.3], "both classes"),
        ([0, 0, 0], [0.1, 0.2, 0.3], "both classes"),
    ],
    ids=["length", "empty", "not_binary", "strings", "nan", "inf", "2d", "only_same", "only_diff"],
)
def test_roc_auc_rejects_bad_input(same, scores, match):
    with pytest.raises(DataError, match=match):
        metrics.roc_auc(same, scores)


def test_average_precision_needs_a_same_pair_but_not_a_different_one():
    assert metrics.average_precision([1, 1], [0.2, 0.4]) == 1.0
    with pytest.raises(DataError, match="at least one same pair"):
        metrics.average_precision([0, 0], [0.2, 0.4])


def test_confusion_at_rejects_nan_threshold():
    with pytest.raises(DataError, match="threshold"):
        metrics.confusion_at([0, 1], [0.1, 0.2], float("nan"))


def test_precision_curve_rows_match_sklearn(pairs):
    same, scores = pairs
    precision, recall, thresholds = skm.precision_recall_curve(same, scores)
    at = {float(t): (p, r) for p, r, t in zip(precision[:-1], recall[:-1], thresholds, strict=True)}
    curve = metrics.precision_curve(same, scores, points=21)
    assert 1 <= len(curve) <= 2 * 21
    assert [row[0] for row in curve] == sorted((row[0] for row in curve), reverse=True)
    for threshold, p, r in curve:
        if threshold in at:  # scikit-learn's curve may stop at full recall
            assert (p, r) == pytest.approx(at[threshold])
        kept = np.asarray(scores) >= threshold  # brute force
        assert p == pytest.approx(np.asarray(same)[kept].mean())
        assert r == pytest.approx(np.asarray(same)[kept].sum() / np.sum(same))


def test_precision_curve_goes_past_full_recall_where_precision_falls():
    # Separable: 10 same pairs above 40 different ones. Precision is 1.0 up to full recall, and
    # only the rows past it say how far a threshold can loosen before precision falls.
    same = np.r_[np.ones(10), np.zeros(40)]
    scores = np.r_[np.linspace(0.9, 0.7, 10), np.linspace(0.6, 0.1, 40)]
    curve = metrics.precision_curve(same, scores, points=101)
    full = [row for row in curve if row[2] == 1.0]
    assert full[0] == pytest.approx([0.7, 1.0, 1.0])
    assert full[-1] == pytest.approx([0.1, 0.2, 1.0])  # every pair accepted: the base rate
    # Past full recall precision is 10 / (10 + m) with m different pairs accepted, at 101 evenly
    # spaced precision levels (1.0 to 0.2, steps of 0.008): every m while a step of m is wider.
    accepted = [round(10 / row[1]) - 10 for row in full]
    assert accepted == sorted(accepted) and set(range(21)) <= set(accepted) and accepted[-1] == 40
    assert metrics.threshold_for_precision(curve, 0.95) == pytest.approx(0.7)  # 10/11 < 0.95
    assert metrics.threshold_for_precision(curve, 0.9) == pytest.approx(0.6)  # 10/11 >= 0.9
    assert metrics.threshold_for_precision(curve, 0.5) == pytest.approx(scores[19])  # m = 10


def test_precision_cut_says_whether_the_curve_resolves_it(caplog):
    curve = [[0.9, 1.0, 0.5], [0.7, 1.0, 1.0], [0.6, 0.97, 1.0], [0.4, 0.9, 1.0]]
    assert metrics.precision_cut(curve, 0.99) == (0.7, 1.0, 1.0, 0.97)
    assert metrics.precision_cut(curve, 0.95).threshold == 0.6
    assert metrics.precision_cut(curve, 0.95).resolved
    flat = [[0.9, 1.0, 0.5], [0.7, 1.0, 1.0]]  # precision 1.0 to the end: looser may keep it too
    cut = metrics.precision_cut(flat, 0.95)
    assert cut == (0.7, 1.0, 1.0, None) and not cut.resolved
    assert metrics.threshold_for_precision(flat, 0.95) == 0.7
    assert "cannot resolve precision 0.95: every stored threshold keeps it, down to the loosest (0.7" in (
        caplog.text
    )


def test_threshold_for_precision_takes_the_most_recall_reaching_it():
    curve = [[0.9, 1.0, 0.2], [0.7, 0.95, 0.5], [0.5, 0.8, 0.8], [0.2, 0.6, 1.0]]
    assert metrics.threshold_for_precision(curve, 0.9) == 0.7
    assert metrics.threshold_for_precision(curve, 0.5) == 0.2
    # Distances: smaller is stricter, and the rule is the same.
    distances = [[0.1, 1.0, 0.2], [0.3, 0.9, 0.6], [0.6, 0.5, 1.0]]
    assert metrics.threshold_for_precision(distances, 0.85) == 0.3


@pytest.mark.parametrize(
    ("curve", "precision", "error", "match"),
    [
        ([[0.5, 0.8, 1.0]], 0.9, DataError, "best held-out precision 0.8000"),
        ([], 0.9, DataError, "calibration curve"),
        ([[0.5, 0.8, 1.0]], 0.0, ConfigError, "min_precision in"),
        ([[0.5, 0.8, 1.0]], 1.5, ConfigError, "min_precision in"),
    ],
    ids=["unreachable", "empty", "zero", "above-one"],
)
def test_threshold_for_precision_rejects(curve, precision, error, match):
    with pytest.raises(error, match=match):
        metrics.threshold_for_precision(curve, precision)
