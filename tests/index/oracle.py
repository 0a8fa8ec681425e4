"""The numpy oracle of the index tests, and the size of their synthetic data."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

N, DIM, NQ = 4000, 32, 100  # database rows, dimension, query rows


def brute_force(xb: npt.ArrayLike, xq: npt.ArrayLike, metric: str) -> npt.NDArray[np.float64]:
    """Return all `(nq, n)` distances in float64: `1 - cos`, or the true Euclidean distance."""
    xb = np.asarray(xb, np.float64)
    xq = np.asarray(xq, np.float64)
    if metric == "cosine":
        xb = xb / np.linalg.norm(xb, axis=1, keepdims=True)
        xq = xq / np.linalg.norm(xq, axis=1, keepdims=True)
        return 1.0 - xq @ xb.T
    sq = (xq**2).sum(1)[:, None] + (xb**2).sum(1)[None, :] - 2 * xq @ xb.T
    return np.sqrt(np.maximum(sq, 0.0))


def recall(found: npt.NDArray, expected: npt.NDArray) -> float:
    """Mean fraction of each row of `expected` found in the same row of `found`."""
    rows = zip(found.tolist(), expected.tolist(), strict=True)
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in rows]))
