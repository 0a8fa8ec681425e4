"""Fit the pairwise head on frozen embeddings, with hard negatives, and calibrate thresholds.

The head re-ranks what the tower retrieves, so it must learn to separate the tower's *near*
neighbours: negatives drawn at random are too easy and made re-ranking worse in our runs. Here
the negatives are mostly the nearest other-class items in the tower's own embedding space.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import faiss
import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.pairs import Pairs, make_pairs
from simsearch.evaluation.metrics import average_precision, calibrate_threshold, roc_auc

__all__ = ["HeadReport", "calibrate", "fit_head", "mine_hard_pairs"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadReport:
    """How the head compares with the tower's distance on held-out pairs."""

    distance_auc: float
    head_auc: float
    distance_ap: float
    head_ap: float

    @property
    def head_helps(self) -> bool:
        return self.head_ap > self.distance_ap


def mine_hard_pairs(
    embeddings: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    *,
    neighbours: int = 10,
    max_anchors: int = 20_000,
    seed: int = 0,
) -> Pairs:
    """Pairs for the head: per anchor, its same-class items among the nearest `neighbours`
    (or one random same-class item) and the nearest other-class items (hard negatives)."""
    rng = np.random.default_rng(seed)
    valid = np.flatnonzero(labels >= 0)
    anchors = rng.choice(valid, size=min(max_anchors, valid.size), replace=False)
    index = faiss.IndexFlatIP(embeddings.shape[1])
    unit = np.ascontiguousarray(embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12))
    index.add(unit)
    _, nn = index.search(unit[anchors], neighbours + 1)
    left, right, same = [], [], []
    random_pos = _random_positives(labels, anchors, rng)
    for anchor, row, pos in zip(anchors, nn, random_pos, strict=True):
        # Unlabelled neighbours (-1) may be unseen matches: neither positive nor negative.
        row = row[(row >= 0) & (row != anchor)]
        row = row[labels[row] >= 0]
        is_same = labels[row] == labels[anchor]
        hard_neg = row[~is_same][:3]
        positives = row[is_same][:2] if is_same.any() else ([pos] if pos >= 0 else [])
        for other, flag in [(p, 1) for p in positives] + [(n, 0) for n in hard_neg]:
            left.append(anchor)
            right.append(other)
            same.append(flag)
    return Pairs(np.array(left), np.array(right), np.array(same))


def _random_positives(labels: npt.NDArray[np.int64], anchors: npt.NDArray[np.int64], rng: np.random.Generator) -> npt.NDArray[np.int64]:
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    starts = np.searchsorted(sorted_labels, labels[anchors], side="left")
    ends = np.searchsorted(sorted_labels, labels[anchors], side="right")
    out = np.full(len(anchors), -1, np.int64)
    for i, (anchor, lo, hi) in enumerate(zip(anchors, starts, ends, strict=True)):
        if hi - lo >= 2:
            choices = order[lo:hi]
            choices = choices[choices != anchor]
            out[i] = rng.choice(choices)
    return out


def fit_head(
    head: keras.Model,
    embeddings: npt.NDArray[np.float32],
    pairs: Pairs,
    *,
    right_embeddings: npt.NDArray[np.float32] | None = None,
    epochs: int = 10,
    learning_rate: float = 1e-3,
    batch_size: int = 256,
    verbose: Any = 0,
) -> dict[str, list[float]]:
    """Train `head` with binary cross-entropy on `pairs` of embeddings; returns the history."""
    right = embeddings if right_embeddings is None else right_embeddings
    u, v = embeddings[pairs.left], right[pairs.right]
    same = pairs.same.astype(np.float32)
    positive_share = float(same.mean()) if len(same) else 0.5
    weights = np.where(same == 1, 0.5 / max(positive_share, 1e-6), 0.5 / max(1 - positive_share, 1e-6))
    # Both orders: the head scores a pair, not an ordered couple.
    u2, v2 = np.concatenate([u, v]), np.concatenate([v, u])
    head.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
    history = head.fit(
        {"u": u2, "v": v2},
        np.concatenate([same, same]),
        sample_weight=np.concatenate([weights, weights]).astype(np.float32),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
    )
    return {f"head_{key}": [float(x) for x in values] for key, values in history.history.items()}


def calibrate(
    distances: npt.NDArray[np.float32],
    probabilities: npt.NDArray[np.float32],
    same: npt.NDArray[np.int8],
    *,
    target_precision: float | None = None,
) -> tuple[dict[str, float | str | None], HeadReport]:
    """Choose the distance and probability thresholds on held-out pairs (best F1 by default)."""
    distance_threshold = -calibrate_threshold(same, -distances, target_precision=target_precision)
    probability_threshold = calibrate_threshold(same, probabilities, target_precision=target_precision)
    report = HeadReport(
        distance_auc=roc_auc(same, -distances),
        head_auc=roc_auc(same, probabilities),
        distance_ap=average_precision(same, -distances),
        head_ap=average_precision(same, probabilities),
    )
    criterion = "best_f1" if target_precision is None else f"precision>={target_precision}"
    threshold = {
        "distance": float(distance_threshold),
        "probability": float(probability_threshold),
        "criterion": criterion,
    }
    return threshold, report


def validation_pairs(labels: npt.NDArray[np.int64], n_pairs: int = 20_000, seed: int = 0) -> Pairs:
    """Balanced random pairs of held-out items, for thresholds and pair metrics."""
    return make_pairs(labels, n_pairs, positive_fraction=0.5, seed=seed)
