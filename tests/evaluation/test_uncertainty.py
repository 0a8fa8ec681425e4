"""Candidate probabilities (`evaluation.uncertainty`) against the Bayes posterior of known
distributions: held-out pairs and candidates drawn from the same two Gaussians of distance, the
candidates with another share of same pairs than the held-out ones."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.evaluation.metrics import far_curve, precision_curve
from simsearch.evaluation.uncertainty import candidate_probabilities, class_masses

SAME, DIFFERENT = (0.2, 0.06), (0.5, 0.08)  # (mean, sd) of the distance


def _draw(rng: np.random.Generator, n: int, share: float) -> tuple[np.ndarray, np.ndarray]:
    same = (rng.random(n) < share).astype(np.int64)
    mean = np.where(same == 1, SAME[0], DIFFERENT[0])
    sd = np.where(same == 1, SAME[1], DIFFERENT[1])
    return same, rng.normal(mean, sd)


def _bayes(d: np.ndarray, prior: float) -> np.ndarray:
    def pdf(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
        return np.exp(-0.5 * ((x - mean) / sd) ** 2) / sd

    same, different = prior * pdf(d, *SAME), (1 - prior) * pdf(d, *DIFFERENT)
    return same / (same + different)


@pytest.fixture(scope="module")
def held_out() -> tuple[np.ndarray, np.ndarray]:
    return _draw(np.random.default_rng(0), 20_000, 0.5)


def test_the_prior_and_probabilities_of_candidates_match_bayes(
    held_out: tuple[np.ndarray, np.ndarray],
) -> None:
    same, d = held_out
    curve = [[-t, p, r] for t, p, r in precision_curve(same, -d)]  # as the model stores it
    truth, candidates = _draw(np.random.default_rng(1), 5_000, 0.15)
    probabilities, prior = candidate_probabilities(candidates, curve)
    assert prior == pytest.approx(truth.mean(), abs=0.03)
    assert np.abs(probabilities - _bayes(candidates, 0.15)).mean() < 0.05
    assert np.all(np.diff(probabilities[np.argsort(candidates)]) <= 1e-12)  # monotone in distance


def test_the_least_certain_candidates_are_at_the_bayes_crossing(
    held_out: tuple[np.ndarray, np.ndarray],
) -> None:
    same, d = held_out
    curve = [[-t, p, r] for t, p, r in precision_curve(same, -d)]
    _, candidates = _draw(np.random.default_rng(2), 2_000, 0.15)
    probabilities, _ = candidate_probabilities(candidates, curve)
    grid = np.linspace(0.2, 0.5, 3001)
    crossing = grid[np.argmin(np.abs(_bayes(grid, 0.15) - 0.5))]
    first = candidates[np.argsort(np.abs(probabilities - 0.5), kind="stable")[:20]]
    assert np.all(np.abs(first - crossing) < 0.03), (first, crossing)


def test_scores_go_the_other_way(held_out: tuple[np.ndarray, np.ndarray]) -> None:
    same, d = held_out
    scores = 1 - d  # a score: higher = more similar
    curve = precision_curve(same, scores)
    _, candidates = _draw(np.random.default_rng(3), 3_000, 0.3)
    by_score, prior = candidate_probabilities(1 - candidates, curve)
    by_distance, _ = candidate_probabilities(
        candidates, [[-t, p, r] for t, p, r in precision_curve(same, -d)]
    )
    assert prior == pytest.approx(0.3, abs=0.04)
    assert np.abs(by_score - by_distance).max() < 0.05


def test_a_false_accept_curve_gives_the_same_probabilities(held_out: tuple[np.ndarray, np.ndarray]) -> None:
    same, d = held_out
    curve = far_curve(same, d, points=20_000)["rows"]
    _, candidates = _draw(np.random.default_rng(4), 3_000, 0.3)
    by_far, prior = candidate_probabilities(candidates, curve, kind="far", counts=(10_000, 10_000))
    assert prior == pytest.approx(0.3, abs=0.04)
    assert np.abs(by_far - _bayes(candidates, 0.3)).mean() < 0.05


def test_class_masses_of_a_hand_made_curve() -> None:
    # 2 same, 2 different pairs: distances 0.1 (same), 0.2 (same), 0.3 (different), 0.4 (different)
    curve = [[0.1, 1.0, 0.5], [0.2, 1.0, 1.0], [0.3, 2 / 3, 1.0], [0.4, 0.5, 1.0]]
    thresholds, same, different = class_masses(curve)
    assert thresholds.tolist() == [0.1, 0.2, 0.3, 0.4]
    assert same.tolist() == [0.5, 0.5, 0.0, 0.0, 0.0]
    assert different.tolist() == pytest.approx([0.0, 0.0, 0.5, 0.5, 0.0])
    probabilities, _ = candidate_probabilities([0.05, 0.15, 0.25, 0.35, 0.9], curve)
    # graded by Platt's smoothed targets, though the held-out classes do not overlap
    assert np.all(np.diff(probabilities) < 0)
    assert probabilities[0] > 0.5 > probabilities[3] and probabilities[-1] > 0 and probabilities[0] < 1
