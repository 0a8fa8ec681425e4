"""Score-level fusion of a cross-encoder's probability with a siamese tower's distance:
`fit_fusion` fits the weights on held-out pairs, `fuse` applies them (NumPy only).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from simsearch.errors import DataError

__all__ = ["fit_fusion", "fuse"]


def fit_fusion(
    probabilities: npt.ArrayLike,
    distances: npt.ArrayLike,
    targets: npt.ArrayLike,
    *,
    ridge: float = 1e-3,
) -> dict[str, float]:
    """Fit `fuse`'s weights on held-out pairs: least squares of `targets` (0/1 labels or
    rescaled grades) on the cross-encoder's logit and the tower's distance, with a small ridge
    penalty on the two slopes.

    Score-level fusion of the two stages of retrieve & re-rank: the cross-encoder reads the
    words of both items, the siamese tower was trained on the whole catalogue's geometry, and
    their errors differ.

    Returns:
        `{"cross": a, "distance": b, "bias": c}`: fused = a·logit(p) + b·distance + c.
    """
    x = _fusion_features(probabilities, distances)
    y = np.asarray(targets, dtype=np.float64).reshape(-1)
    if len(y) != len(x) or len(y) < 3:
        raise DataError(
            f"Expected one target per pair and at least 3 pairs. Received: {len(x)} pairs, {len(y)} targets"
        )
    scale = x[:, :2].std(axis=0) + 1e-12
    z = np.column_stack([x[:, :2] / scale, x[:, 2]])
    penalty = np.diag([ridge, ridge, 0.0]) * len(y)
    w = np.linalg.solve(z.T @ z + penalty, z.T @ y)
    return {"cross": float(w[0] / scale[0]), "distance": float(w[1] / scale[1]), "bias": float(w[2])}


def fuse(
    probabilities: npt.ArrayLike, distances: npt.ArrayLike, weights: Mapping[str, float]
) -> npt.NDArray[np.float32]:
    """The cross-encoder's probability combined with the tower's distance:
    `cross·logit(p) + distance·d + bias` (weights from `fit_fusion`); higher = more alike, on
    the scale of the targets it was fitted to (about 0-1), not a probability."""
    x = _fusion_features(probabilities, distances)
    w = np.array([weights["cross"], weights["distance"], weights["bias"]], dtype=np.float64)
    return (x @ w).astype(np.float32)


def _fusion_features(probabilities: npt.ArrayLike, distances: npt.ArrayLike) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, dtype=np.float64).reshape(-1), 1e-7, 1 - 1e-7)
    d = np.asarray(distances, dtype=np.float64).reshape(-1)
    if p.shape != d.shape:
        raise DataError(
            "Expected one tower distance per cross-encoder score. Received: "
            f"{len(p)} scores, {len(d)} distances"
        )
    return np.stack([np.log(p / (1 - p)), d, np.ones_like(p)], axis=1)
