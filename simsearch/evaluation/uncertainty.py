"""How sure the model is of candidate pairs: their calibrated probability of being the same item,
on the candidates' own distribution.

A model stores held-out curves of its distance (or head probability): precision curves, rows
`[threshold, precision, recall]` strictest first (`metrics.precision_curve`), and for faces the
false-accept curve, rows `[distance, far, tar]` (`metrics.far_curve`). Each curve gives, between
two stored thresholds, how many same and different held-out pairs fall there; from these, a
sigmoid of the value (Platt's method, whose smoothed targets keep it graded where the held-out
classes do not overlap) gives the likelihood ratio of "same". The share of same pairs among
candidates is not the held-out one (a dedup's candidates are mostly near neighbours), so it is
estimated on the candidates themselves (EM over the mixture of the two classes), and each
candidate's probability is its posterior under that prior. The review page offers the
candidates nearest 0.5 first: a pair just past a best-F1 threshold can be all but certainly
different.

Example:
>>> p, prior = candidate_probabilities(pairs.distances, model.calibration["distance"])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from simsearch.errors import DataError

__all__ = ["candidate_probabilities", "class_masses"]

Curve = Sequence[Sequence[float]]


def class_masses(
    curve: Curve, kind: Literal["precision", "far"] = "precision"
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The thresholds of a stored curve and the share of same and of different held-out pairs in
    each of its segments: `(thresholds (m,), same (m + 1,), different (m + 1,))`; segment 0 is
    what the strictest threshold keeps, segment i what threshold i adds, segment m what none keeps.

    Raises:
        DataError: fewer than two rows, or rows that are not `[threshold, a, b]`.
    """
    rows = np.asarray(curve, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[0] < 2 or rows.shape[1] < 3:
        raise DataError(
            f"Expected a curve of at least two [threshold, a, b] rows. Received: shape {rows.shape}"
        )
    thresholds = rows[:, 0]
    if kind == "far":  # [distance, false-accept rate, true-accept rate]
        same_kept, different_kept = rows[:, 2], rows[:, 1]
    else:  # [threshold, precision, recall], in positives: TP = recall, FP = recall / precision - recall
        precision, recall = rows[:, 1], rows[:, 2]
        same_kept = recall
        with np.errstate(divide="ignore", invalid="ignore"):
            different_kept = np.where(precision > 0, recall / precision - recall, 0.0)
        different_kept = np.maximum.accumulate(different_kept)
        # the loosest row keeps every pair: its false positives are all the different pairs
        different_kept = different_kept / different_kept[-1] if different_kept[-1] > 0 else different_kept
    same = np.diff(np.concatenate([[0.0], same_kept, [1.0]])).clip(0.0)
    different = np.diff(np.concatenate([[0.0], different_kept, [1.0]])).clip(0.0)
    return thresholds, same, different


def _sigmoid_fit(
    x: np.ndarray, same: np.ndarray, different: np.ndarray, n_same: float, n_different: float
) -> tuple[float, float]:
    """Platt's fit of `P(same | x) = sigmoid(a + b x)` at equal priors to the classes' shares per
    segment (`x` its position), with Platt's targets `(N+ + 1) / (N+ + 2)` and `1 / (N- + 2)`,
    which keep the slope finite when the held-out classes do not overlap (Newton's method)."""
    hi, lo = (n_same + 1) / (n_same + 2), 1 / (n_different + 2)
    z = np.concatenate([x, x])
    w = np.concatenate([same, different])
    t = np.concatenate([np.full(len(x), hi), np.full(len(x), lo)])
    scale = max(float(np.std(z[w > 0])) if np.any(w > 0) else 1.0, 1e-6)
    u = (z - float(np.average(z, weights=w))) / scale if w.sum() > 0 else z
    a = b = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a + b * u)))
        g = np.array([np.sum(w * (p - t)), np.sum(w * (p - t) * u)])
        h = w * p * (1 - p) + 1e-12
        hessian = np.array([[h.sum(), np.sum(h * u)], [np.sum(h * u), np.sum(h * u * u)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, g)
        a, b = a - float(step[0]), b - float(step[1])
        if np.abs(step).max() < 1e-9:
            break
    centre = float(np.average(z, weights=w)) if w.sum() > 0 else 0.0
    return a - b * centre / scale, b / scale


def candidate_probabilities(
    values: npt.ArrayLike,
    curve: Curve,
    *,
    kind: Literal["precision", "far"] = "precision",
    counts: tuple[float, float] | None = None,
    iterations: int = 100,
) -> tuple[npt.NDArray[np.float64], float]:
    """Each candidate's probability of being the same item, and the share of same pairs among
    the candidates, from a model's stored held-out `curve` of this scorer (see the module).

    Args:
        values: `(n,)` the candidates' distances or scores, as the curve's thresholds.
        curve: the stored curve of that scorer.
        kind: `"precision"` (`[threshold, precision, recall]` rows) or `"far"` (a face model's
            `[distance, far, tar]` rows).
        counts: the held-out same and different pairs behind the curve (a false-accept curve's
            `n_genuine`, `n_impostor`); without, its number of rows (a precision curve stores
            about one row per 1% of recall).

    Returns:
        `(probabilities (n,), prior)`.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    thresholds, same, different = class_masses(curve, kind)
    # each segment at its middle; the open ends at the strictest and loosest thresholds
    middles = np.concatenate([thresholds[:1], (thresholds[1:] + thresholds[:-1]) / 2, thresholds[-1:]])
    a, b = _sigmoid_fit(middles, same, different, *(counts or (len(thresholds), len(thresholds))))
    s = 1 / (1 + np.exp(-np.clip(a + b * x, -500, 500)))
    prior = 0.5
    for _ in range(iterations):
        posterior = _posterior(s, prior)
        updated = float(np.clip(posterior.mean(), 1e-3, 1 - 1e-3)) if len(x) else prior
        if abs(updated - prior) < 1e-6:
            break
        prior = updated
    return _posterior(s, prior), prior


def _posterior(share: np.ndarray, prior: float) -> npt.NDArray[np.float64]:
    """P(same) of a segment whose held-out share of same pairs (at equal priors) is `share`."""
    same = prior * share
    return np.asarray(same / np.maximum(same + (1 - prior) * (1 - share), 1e-300), dtype=np.float64)
