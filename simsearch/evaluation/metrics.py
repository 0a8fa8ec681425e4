"""Pair metrics: how well a score separates same pairs from different ones.

Every function takes `same`, `(n,)` 0/1 (1 = the two items are the same item or class), and
`scores`, `(n,)` float, higher = more similar. A pair is predicted "same" when
`score >= threshold` (`far_curve` alone takes distances, lower = more similar). Curves and
areas follow scikit-learn's definitions (ties counted as one step), so numbers can be compared
with published ones; scikit-learn itself is not needed.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError

__all__ = [
    "Confusion",
    "PrecisionCut",
    "average_precision",
    "calibrate_threshold",
    "check_pairs",
    "confusion_at",
    "equal_error_rate",
    "far_curve",
    "pair_metrics",
    "precision_curve",
    "precision_cut",
    "precision_recall_curve",
    "roc_auc",
    "roc_curve",
    "separating_threshold",
    "threshold_for_far",
    "threshold_for_precision",
    "unresolved_precision",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


class Confusion(NamedTuple):
    """Counts of a thresholded pair decision."""

    tp: int
    fp: int
    tn: int
    fn: int


def check_pairs(same: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Validate `same` and `scores` (or distances) of labelled pairs; return them as `(n,) int64`
    and `(n,) float64`. Every metric here and the plots (`simsearch.evaluation.plots`) check
    their pairs with it.

    Raises:
        DataError: not 1-D, lengths that differ, no pair, `same` not 0/1, scores not finite reals.
    """
    same_arr, scores_arr = np.asarray(same), np.asarray(scores)
    if same_arr.ndim != 1 or scores_arr.ndim != 1:
        raise DataError(
            f"Expected 1-D `same` and `scores`. Received: same.shape={same_arr.shape}, "
            f"scores.shape={scores_arr.shape}"
        )
    if len(same_arr) != len(scores_arr):
        raise DataError(
            f"Expected one score per pair. Received: same={len(same_arr)}, scores={len(scores_arr)}"
        )
    if len(same_arr) == 0:
        raise DataError("Expected at least one pair. Received: 0 pairs")
    if same_arr.dtype != bool and not np.issubdtype(same_arr.dtype, np.number):
        raise DataError(f"Expected `same` as 0/1 numbers or booleans. Received: dtype={same_arr.dtype}")
    if not np.isin(same_arr, (0, 1)).all():
        bad = np.unique(same_arr[~np.isin(same_arr, (0, 1))])[:5]
        raise DataError(f"Expected `same` in {{0, 1}}. Received: values={bad.tolist()}")
    if not np.issubdtype(scores_arr.dtype, np.number) or np.issubdtype(scores_arr.dtype, np.complexfloating):
        raise DataError(f"Expected real-valued scores. Received: dtype={scores_arr.dtype}")
    scores_arr = scores_arr.astype(np.float64)
    n_bad = int((~np.isfinite(scores_arr)).sum())
    if n_bad:
        raise DataError(f"Expected finite scores. Received: {n_bad} NaN or infinite values")
    return same_arr.astype(np.int64), scores_arr


def _require(same: npt.NDArray[np.int64], *, positives: bool, negatives: bool, what: str) -> None:
    n_pos = int(same.sum())
    if (positives and n_pos == 0) or (negatives and n_pos == len(same)):
        need = "both classes" if positives and negatives else "at least one same pair (same=1)"
        raise DataError(
            f"Expected {need} to compute {what}. Received: positives={n_pos}, negatives={len(same) - n_pos}"
        )


def _cumulative_counts(
    same: npt.NDArray[np.int64], scores: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return `(fps, tps, thresholds)` at each distinct score, thresholds decreasing."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    sorted_scores, sorted_same = scores[order], same[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(sorted_scores) - 1]
    tps = np.cumsum(sorted_same)[last_of_tie].astype(np.float64)
    fps = (last_of_tie + 1) - tps
    return fps, tps, sorted_scores[last_of_tie]


def roc_curve(same: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Compute the ROC curve, one point per distinct score.

    Same as `sklearn.metrics.roc_curve(same, scores, drop_intermediate=False)`.

    Returns:
        `(fpr, tpr, thresholds)`, each `(m + 1,) float64` for `m` distinct scores; thresholds
        decrease and start at `inf` (no pair predicted same).

    Raises:
        DataError: bad inputs, or only one class in `same`.
    """
    same_arr, scores_arr = check_pairs(same, scores)
    _require(same_arr, positives=True, negatives=True, what="a ROC curve")
    fps, tps, thresholds = _cumulative_counts(same_arr, scores_arr)
    fpr = np.r_[0.0, fps] / fps[-1]
    tpr = np.r_[0.0, tps] / tps[-1]
    return fpr, tpr, np.r_[np.inf, thresholds]


def roc_auc(same: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Compute the area under the ROC curve; a tie between a same and a different pair counts 1/2.

    Example:
        >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        0.75
    """
    fpr, tpr, _ = roc_curve(same, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def equal_error_rate(same: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Compute the equal error rate: where the false-accept rate (different pairs called same)
    equals the false-reject rate (same pairs called different) along the ROC curve, linearly
    interpolated between its two nearest points, as signature and speaker verification report it.

    Example:
        >>> equal_error_rate([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])
        0.5
    """
    fpr, tpr, _ = roc_curve(same, scores)
    gap = (1.0 - tpr) - fpr  # false rejects minus false accepts: from 1 down to -1
    i = int(np.flatnonzero(gap <= 0)[0])
    if gap[i] == 0 or i == 0:
        return float(fpr[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def precision_recall_curve(
    same: npt.ArrayLike, scores: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Compute precision and recall at each distinct score, as scikit-learn does.

    Returns:
        `(precision, recall, thresholds)`: `precision` and `recall` are `(m + 1,) float64` with
        the point `(precision=1, recall=0)` appended; `thresholds` is `(m,)` increasing.

    Raises:
        DataError: bad inputs, or no same pair.
    """
    same_arr, scores_arr = check_pairs(same, scores)
    _require(same_arr, positives=True, negatives=False, what="a precision-recall curve")
    fps, tps, thresholds = _cumulative_counts(same_arr, scores_arr)
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def average_precision(same: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """Compute average precision, the step sum `AP = sum_n (R_n - R_{n-1}) * P_n`.

    Same as `sklearn.metrics.average_precision_score` (no interpolation).
    """
    precision, recall, _ = precision_recall_curve(same, scores)
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def confusion_at(same: npt.ArrayLike, scores: npt.ArrayLike, threshold: float) -> Confusion:
    """Count true/false positives/negatives when pairs with `score >= threshold` are called same."""
    same_arr, scores_arr = check_pairs(same, scores)
    if np.isnan(threshold):
        raise DataError(f"Expected a threshold that is a number. Received: threshold={threshold}")
    predicted = scores_arr >= threshold
    actual = same_arr.astype(bool)
    return Confusion(
        tp=int((predicted & actual).sum()),
        fp=int((predicted & ~actual).sum()),
        tn=int((~predicted & ~actual).sum()),
        fn=int((~predicted & actual).sum()),
    )


def _ratio(num: int, den: int) -> float:
    # scikit-learn's zero_division=0: an empty denominator scores 0, not NaN.
    return num / den if den else 0.0


def pair_metrics(same: npt.ArrayLike, scores: npt.ArrayLike, threshold: float) -> dict[str, Any]:
    """Summarise a pair scorer: thresholded counts plus the threshold-free areas.

    Returns:
        A dict with `accuracy`, `precision`, `recall`, `f1`, `roc_auc`, `average_precision`,
        `threshold` (floats) and `n_pairs`, `n_positive` (ints).

    Raises:
        DataError: bad inputs, or only one class in `same`.

    Example:
        >>> pair_metrics([0, 1, 1], [0.2, 0.7, 0.9], threshold=0.5)["f1"]
        1.0
    """
    tp, fp, tn, fn = confusion_at(same, scores, threshold)
    return {
        "accuracy": (tp + tn) / (tp + fp + tn + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": roc_auc(same, scores),
        "average_precision": average_precision(same, scores),
        "threshold": float(threshold),
        "n_pairs": tp + fp + tn + fn,
        "n_positive": tp + fn,
    }


def reliability(
    same: npt.ArrayLike, probabilities: npt.ArrayLike, bins: int = 10
) -> tuple[list[dict[str, float]], float]:
    """How well predicted probabilities match observed frequencies on labelled pairs.

    Returns:
        `(rows, ece)`: one row per non-empty bin of `[low, high)` (the last bin closed), with
        `low`, `high`, `n`, `predicted` (mean probability) and `observed` (share of same pairs);
        `ece` is the expected calibration error, `sum(n / N * |predicted - observed|)`.

    Example:
        >>> rows, ece = reliability([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], bins=2)
        >>> round(ece, 2)
        0.15
    """
    same_arr, p = check_pairs(same, probabilities)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        chosen = which == b
        n = int(chosen.sum())
        if not n:
            continue
        predicted, observed = float(p[chosen].mean()), float(same_arr[chosen].mean())
        rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "n": n,
                     "predicted": predicted, "observed": observed})  # fmt: skip
        ece += n / len(p) * abs(predicted - observed)
    return rows, float(ece)


CRITERIA = ("f1", "accuracy")


def calibrate_threshold(
    same: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    target_precision: float | None = None,
    criterion: str = "f1",
) -> float:
    """Choose a decision threshold on held-out pairs; it is always one of `scores`.

    By default, the threshold that maximises F1 (the highest one on ties); `criterion="accuracy"`
    maximises accuracy instead (MRPC's measure: with 68% positives, best F1 sits near "all
    same"). With `target_precision`, the lowest threshold whose precision reaches the target,
    which gives the most recall at that precision.

    Raises:
        ConfigError: `target_precision` outside (0, 1], or an unknown `criterion`.
        DataError: bad inputs, no same pair, or `target_precision` unreachable.

    Example:
        >>> calibrate_threshold([0, 1, 0, 1], [0.1, 0.6, 0.5, 0.9])
        0.6
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"Expected criterion in {list(CRITERIA)}. Received: criterion={criterion!r}")
    same_arr, scores_arr = check_pairs(same, scores)
    _require(same_arr, positives=True, negatives=False, what="a threshold")
    fps, tps, thresholds = _cumulative_counts(same_arr, scores_arr)
    if target_precision is None and criterion == "accuracy":
        correct = tps + (fps[-1] - fps)  # same pairs above the threshold, different ones below
        return float(thresholds[int(np.argmax(correct))])
    if target_precision is None:
        f1 = 2 * tps / (tps + fps + tps[-1])
        return float(thresholds[int(np.argmax(f1))])
    if not 0.0 < target_precision <= 1.0:
        raise ConfigError(
            f"Expected target_precision in (0, 1]. Received: target_precision={target_precision}"
        )
    precision = tps / (tps + fps)
    reached = np.flatnonzero(precision >= target_precision)
    if len(reached) == 0:
        raise DataError(
            f"Expected some threshold to reach precision >= {target_precision}. "
            f"Received: best precision={precision.max():.4f} over {len(same_arr)} pairs"
        )
    return float(thresholds[reached[-1]])


def separating_threshold(same: npt.ArrayLike, scores: npt.ArrayLike) -> float | None:
    """The midpoint of the gap between the lowest same pair's score and the highest different
    pair's, when every same pair scores above every different one; else None.

    On perfectly separated pairs every threshold in the gap has F1 1.0, and `calibrate_threshold`
    takes an edge of it (the lowest positive score): a same pair a little beyond the held-out
    ones is then lost, and a threshold at the other edge lets in the different pairs just past
    the nearest held-out one. The midpoint keeps the largest margin to both sides, as a
    one-dimensional maximum-margin classifier does.

    Example:
        >>> separating_threshold([0, 1, 0, 1], [0.1, 0.6, 0.5, 0.9])
        0.55
    """
    same_arr, scores_arr = check_pairs(same, scores)
    positive, negative = scores_arr[same_arr == 1], scores_arr[same_arr == 0]
    if len(positive) == 0 or len(negative) == 0 or positive.min() <= negative.max():
        return None
    return float(positive.min() + negative.max()) / 2


def precision_curve(same: npt.ArrayLike, scores: npt.ArrayLike, points: int = 101) -> list[list[float]]:
    """Summarise the precision-recall trade-off as rows `[threshold, precision, recall]`, by
    decreasing threshold, to be stored with a model and read by `threshold_for_precision`
    (`--min-precision`).

    At most `points` rows at evenly spaced recall levels up to full recall, then at most `points`
    more past it, at evenly spaced precision levels down to the loosest threshold (every pair
    accepted): where positives and negatives are well apart precision is 1.0 up to full recall,
    and only these rows tell how far a threshold can loosen before precision falls to 0.95.
    """
    precision, recall, thresholds = precision_recall_curve(same, scores)
    precision, recall = precision[:-1][::-1], recall[:-1][::-1]  # by decreasing threshold
    thresholds = thresholds[::-1]
    picks = np.searchsorted(recall, np.linspace(0.0, 1.0, points), side="left").clip(0, len(recall) - 1)
    full = int(np.searchsorted(recall, 1.0, side="left"))
    if full < len(recall) - 1:  # thresholds past full recall: precision falls as negatives come in
        tail = -precision[full:]  # increasing: precision only falls once recall is full
        levels = np.linspace(tail[0], tail[-1], points)
        picks = np.r_[picks, full + np.searchsorted(tail, levels, side="right") - 1]
    return [[float(thresholds[i]), float(precision[i]), float(recall[i])] for i in np.unique(picks)]


class PrecisionCut(NamedTuple):
    """The threshold `--min-precision` takes from a stored precision curve, and whether the
    curve resolves it: `resolved` is False when every stored threshold keeps the precision, so
    that the held-out pairs cannot tell how much looser a threshold would keep it too."""

    threshold: float
    precision: float
    recall: float
    looser_precision: float | None  # at the next looser stored threshold; None: none stored

    @property
    def resolved(self) -> bool:
        return self.looser_precision is not None


def precision_cut(curve: list[list[float]], min_precision: float) -> PrecisionCut:
    """The loosest stored threshold whose held-out precision reaches `min_precision` (with it,
    the most held-out recall), from a `precision_curve` (for scores or, negated back, distances:
    rows go from the strictest threshold to the loosest).

    Raises:
        ConfigError: `min_precision` outside (0, 1].
        DataError: an empty curve, or no threshold reaching the precision.

    Example:
        >>> precision_cut([[0.9, 1.0, 0.5], [0.6, 1.0, 1.0], [0.4, 0.8, 1.0]], 0.95)
        PrecisionCut(threshold=0.6, precision=1.0, recall=1.0, looser_precision=0.8)
    """
    if not 0.0 < min_precision <= 1.0:
        raise ConfigError(f"Expected min_precision in (0, 1]. Received: min_precision={min_precision}")
    if not curve:
        raise DataError("Expected a calibration curve. Received: none stored with the model")
    reached = [i for i, row in enumerate(curve) if row[1] >= min_precision]
    if not reached:
        best = max(row[1] for row in curve)
        raise DataError(
            f"Expected a threshold reaching precision >= {min_precision} on held-out pairs. "
            f"Received: best held-out precision {best:.4f}"
        )
    chosen = reached[-1]
    threshold, precision, recall = (float(value) for value in curve[chosen][:3])
    looser = float(curve[chosen + 1][1]) if chosen + 1 < len(curve) else None
    return PrecisionCut(threshold, precision, recall, looser)


def threshold_for_precision(curve: list[list[float]], min_precision: float) -> float:
    """The threshold of `precision_cut`; logs a warning when the curve does not resolve it.

    Raises:
        ConfigError: `min_precision` outside (0, 1].
        DataError: an empty curve, or no threshold reaching the precision.
    """
    cut = precision_cut(curve, min_precision)
    if not cut.resolved:
        logger.warning(unresolved_precision(cut, min_precision))
    return cut.threshold


def unresolved_precision(cut: PrecisionCut, min_precision: float) -> str:
    """Why a `precision_cut` is not resolved, and what it fell back to."""
    return (
        f"The held-out pairs cannot resolve precision {min_precision:g}: every stored threshold "
        f"keeps it, down to the loosest ({cut.threshold:.4g}: held-out precision {cut.precision:.4f}, "
        f"recall {cut.recall:.4f}); using that one, though a looser threshold may keep it too"
    )


def far_curve(same: npt.ArrayLike, distances: npt.ArrayLike, points: int = 200) -> dict[str, Any]:
    """Summarise the low false-accept end of a distance as rows `[threshold, far, tar]`, by
    increasing threshold, to be stored with a model and read by `threshold_for_far` (`--max-far`).

    Row m accepts (distance <= threshold) exactly the m closest impostor pairs (`same=0`) of the
    `n_impostor`: `far = m / n_impostor`, its threshold halfway to the next impostor distance;
    `tar` is the share of genuine pairs accepted there. The first row (far 0) sits just below the
    closest impostor pair.

    Example:
        >>> far_curve([1, 0, 0], [0.1, 0.5, 0.7])["rows"]
        [[0.4999995, 0.0, 1.0], [0.6, 0.5, 1.0], [0.7, 1.0, 1.0]]
    """
    same_arr, d = check_pairs(same, distances)
    _require(same_arr, positives=True, negatives=True, what="a false-accept curve")
    impostor = np.sort(d[same_arr == 0])
    genuine = np.sort(d[same_arr == 1])
    m = np.arange(min(points, len(impostor)) + 1)
    below = np.concatenate([[impostor[0] * (1 - 1e-6)], impostor])[m]
    above = np.concatenate([impostor, [impostor[-1]]])[m]
    thresholds = np.where(m == 0, below, (below + above) / 2)
    thresholds[m == len(impostor)] = impostor[-1]
    tar = np.searchsorted(genuine, thresholds, side="right") / len(genuine)
    n = len(impostor)
    rows = [[float(t), float(i / n), float(a)] for i, t, a in zip(m, thresholds, tar, strict=True)]
    return {"n_impostor": n, "n_genuine": len(genuine), "rows": rows}


def threshold_for_far(curve: dict[str, Any], max_far: float) -> float:
    """The loosest stored distance threshold whose held-out false-accept rate is at most
    `max_far`, from a `far_curve`. Below `1 / n_impostor` the held-out pairs cannot tell, and
    the threshold is the one just below the closest impostor pair (logged).

    Raises:
        ConfigError: `max_far` outside [0, 1).
        DataError: no curve stored.
    """
    if not 0.0 <= max_far < 1.0:
        raise ConfigError(f"Expected max_far in [0, 1). Received: max_far={max_far}")
    if not curve or not curve.get("rows"):
        raise DataError("Expected a false-accept curve. Received: none stored with the model")
    rows = curve["rows"]
    threshold = float(max(row[0] for row in rows if row[1] <= max_far))
    if rows[-1][1] <= max_far and rows[-1][1] < 1.0:
        logger.warning(
            "max_far=%g is past the stored curve (false-accept rate up to %g): using its loosest "
            "threshold, distance <= %.4g",
            max_far,
            rows[-1][1],
            threshold,
        )
    if max_far * curve["n_impostor"] < 1:
        logger.warning(
            "max_far=%g is below what %d held-out impostor pairs resolve (1/%d): using distance "
            "<= %.4g, just below the closest impostor pair, whose false-accept rate they cannot tell "
            "from %g",
            max_far,
            curve["n_impostor"],
            curve["n_impostor"],
            threshold,
            max_far,
        )
    return threshold
