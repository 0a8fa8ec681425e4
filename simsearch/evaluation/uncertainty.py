"""How sure the model is of candidate pairs: their calibrated probability of being the same item,
on the candidates' own distribution.

A model stores held-out curves of its distance (or head probability): precision curves, rows
`[threshold, precision, recall]` strictest first (`metrics.precision_curve`), and for faces the
false-accept curve, rows `[distance, far, tar]` (`metrics.far_curve`). Each curve gives, between
two stored thresholds, how many same and different held-out pairs fall there: the two classes'
distributions of the value, whose ratio (made monotone, pool-adjacent-violators) is the
likelihood ratio of "same". The share of same pairs among candidates is not the held-out one (a
dedup's candidates are mostly near neighbours), so it is estimated on the candidates themselves
(EM over the mixture of the two known distributions), and each candidate's probability is its
posterior under that prior. The review page offers the candidates nearest 0.5 first: a pair just
past a best-F1 threshold can be all but certainly different.

Example:
>>> p, prior = candidate_probabilities(pairs.distances, model.calibration["distance"], scorer="distance")
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


def _monotone_shares(same: np.ndarray, different: np.ndarray) -> npt.NDArray[np.float64]:
    """Each segment's share of same pairs (equal priors), non-increasing from the strictest
    segment (pool adjacent violators, weighted by the segment's pairs); empty segments take
    their neighbour's."""
    weight = same + different
    filled = np.flatnonzero(weight > 0)
    if len(filled) == 0:
        return np.full(len(same), 0.5)
    blocks: list[list[float]] = []  # [share, weight, segments]
    for i in filled:
        blocks.append([same[i] / weight[i], weight[i], 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            share, w, n = blocks.pop()
            blocks[-1] = [
                (blocks[-1][0] * blocks[-1][1] + share * w) / (blocks[-1][1] + w),
                blocks[-1][1] + w,
                blocks[-1][2] + n,
            ]
    shares = np.repeat([b[0] for b in blocks], [int(b[2]) for b in blocks])
    out = np.interp(np.arange(len(same)), filled, shares)  # empty segments: the nearest shares
    return np.asarray(out, dtype=np.float64)


def candidate_probabilities(
    values: npt.ArrayLike,
    curve: Curve,
    *,
    scorer: Literal["distance", "score"] = "distance",
    kind: Literal["precision", "far"] = "precision",
    iterations: int = 100,
) -> tuple[npt.NDArray[np.float64], float]:
    """Each candidate's probability of being the same item, and the share of same pairs among
    the candidates, from a model's stored held-out `curve` of this scorer (see the module).

    Args:
        values: `(n,)` the candidates' distances (`scorer="distance"`, lower = more similar) or
            scores (`"score"`, higher = more similar).
        curve: the stored curve of that scorer.
        kind: `"precision"` (`[threshold, precision, recall]` rows) or `"far"` (a face model's
            `[distance, far, tar]` rows).

    Returns:
        `(probabilities (n,), prior)`.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    thresholds, same, different = class_masses(curve, kind)
    shares = _monotone_shares(same, different)
    sign = 1.0 if scorer == "distance" else -1.0  # a score's thresholds go down, strictest first
    segment = np.searchsorted(sign * thresholds, sign * x, side="left")
    s = shares[segment]
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
