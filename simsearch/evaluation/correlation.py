"""Correlation of a similarity score with graded human judgements (STS Benchmark, SICK).

SemEval STS and SBERT report Spearman's rank correlation (ties get their average rank, as
`scipy.stats.spearmanr`); SICK papers report Pearson's r. Both are x100 in papers, plain here.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from simsearch.errors import DataError

__all__ = ["pearson", "spearman"]


def _check(x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) < 2:
        raise DataError(f"Expected two (n,) arrays with n >= 2. Received: shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataError("Expected finite values. Received: NaN or inf")
    return a, b


def pearson(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Pearson's r; 0.0 when either side is constant.

    Formula: `r = cov(x, y) / (std(x) std(y))`.
    """
    a, b = _check(x, y)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def _ranks(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Ranks 1..n, ties sharing their average rank."""
    _values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts  # rank - 1 of each distinct value's first occurrence
    return (first + (counts + 1) / 2.0)[inverse]


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Spearman's rank correlation: Pearson's r of the (tie-averaged) ranks."""
    a, b = _check(x, y)
    return pearson(_ranks(a), _ranks(b))
