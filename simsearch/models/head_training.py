"""Fit the pairwise head on frozen embeddings, with hard negatives, and calibrate thresholds.

The head re-ranks what the tower retrieves, so it must learn to separate the tower's *near*
neighbours: negatives drawn at random are too easy and made re-ranking worse in our runs. Here
the negatives are mostly the nearest other-class items in the tower's own embedding space.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import faiss
import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.pairs import Pairs, make_pairs
from simsearch.errors import DataError
from simsearch.evaluation.correlation import pearson
from simsearch.evaluation.metrics import (
    average_precision,
    calibrate_threshold,
    precision_curve,
    roc_auc,
    separating_threshold,
)

__all__ = ["HeadReport", "calibrate", "choose_threshold", "fit_head", "fit_head_graded", "mine_hard_pairs"]

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
    unit = np.ascontiguousarray(
        embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    )
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


def _random_positives(
    labels: npt.NDArray[np.int64], anchors: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
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
    criterion: str = "f1",
) -> tuple[dict[str, float | str | None], HeadReport]:
    """Choose the distance and probability thresholds on held-out pairs (best F1 by default,
    best accuracy with `criterion="accuracy"`); where the pairs separate perfectly, the midpoint
    of the gap (`choose_threshold`)."""
    distance_threshold = -choose_threshold(same, -distances, target_precision, criterion)
    probability_threshold = choose_threshold(same, probabilities, target_precision, criterion)
    report = HeadReport(
        distance_auc=roc_auc(same, -distances),
        head_auc=roc_auc(same, probabilities),
        distance_ap=average_precision(same, -distances),
        head_ap=average_precision(same, probabilities),
    )
    name = f"best_{criterion}" if target_precision is None else f"precision>={target_precision}"
    if target_precision is None and separating_threshold(same, -distances) is not None:
        name += ", midpoint of the gap"
    distance_curve = [[-t, p, r] for t, p, r in precision_curve(same, -distances)]
    threshold: dict[str, Any] = {
        "distance": float(distance_threshold),
        "probability": float(probability_threshold),
        "criterion": name,
        # Held-out precision and recall by threshold, for `--min-precision` at dedup time.
        "curves": {"probability": precision_curve(same, probabilities), "distance": distance_curve},
    }
    return threshold, report


def choose_threshold(
    same: npt.NDArray[np.int8],
    scores: npt.NDArray[np.float32],
    target_precision: float | None = None,
    criterion: str = "f1",
) -> float:
    """`calibrate_threshold`'s choice, except on perfectly separated pairs without a target
    precision: the midpoint of the gap (`separating_threshold`), not its edge."""
    if target_precision is None:
        middle = separating_threshold(same, scores)
        if middle is not None:
            return middle
    return calibrate_threshold(same, scores, target_precision=target_precision, criterion=criterion)


def validation_pairs(labels: npt.NDArray[np.int64], n_pairs: int = 20_000, seed: int = 0) -> Pairs:
    """Balanced random pairs of held-out items, for thresholds and pair metrics."""
    return make_pairs(labels, n_pairs, positive_fraction=0.5, seed=seed)


def neighbour_lists(
    embeddings: npt.NDArray[np.float32], queries: npt.NDArray[np.int64], depth: int
) -> npt.NDArray[np.int64]:
    """The `depth` nearest rows of each query row by cosine, itself left out: `(nq, depth)`."""
    unit = np.ascontiguousarray(
        embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    )
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    _, nn = index.search(unit[queries], depth + 1)
    out = np.empty((len(queries), depth), np.int64)
    for row, (query, found) in enumerate(zip(queries, nn, strict=True)):
        found = found[(found >= 0) & (found != query)]
        out[row] = (
            found[:depth] if len(found) >= depth else np.pad(found, (0, depth - len(found)), mode="edge")
        )
    return out


def listwise_groups(
    embeddings: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    *,
    depth: int = 20,
    group_size: int = 10,
    max_anchors: int = 20_000,
    seed: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Candidate groups for listwise training: per anchor, one true match first, then the
    `group_size - 1` nearest other-class items among the tower's top `depth`.

    The match is drawn among the same-class items in the top `depth` when there are some (the
    ones re-ranking can promote), else among all same-class items.

    Returns:
        `(anchors (m,), groups (m, group_size))` row positions; column 0 is the match.
    """
    rng = np.random.default_rng(seed)
    valid = np.flatnonzero(labels >= 0)
    anchors = rng.choice(valid, size=min(max_anchors, valid.size), replace=False)
    lists = neighbour_lists(embeddings, anchors, depth)
    fallback = _random_positives(labels, anchors, rng)
    kept, groups = [], []
    for anchor, row, other in zip(anchors, lists, fallback, strict=True):
        row = row[labels[row] >= 0]
        same = labels[row] == labels[anchor]
        negatives = row[~same][: group_size - 1]
        positives = row[same]
        match = rng.choice(positives) if len(positives) else other
        if match < 0 or len(negatives) < group_size - 1:
            continue
        kept.append(anchor)
        groups.append(np.concatenate([[match], negatives]))
    return np.asarray(kept, np.int64), np.asarray(groups, np.int64).reshape(-1, group_size)


class ListwiseHeadTrainer(keras.Model):
    """Score each anchor against its candidate group with the head's logits: `(b, m)`."""

    def __init__(self, head_layer: keras.layers.Layer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.head_layer = head_layer

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        from keras import ops

        anchor, candidates = inputs
        b, m, d = ops.shape(candidates)[0], ops.shape(candidates)[1], ops.shape(candidates)[2]
        u = ops.reshape(ops.repeat(anchor[:, None, :], m, axis=1), (-1, d))
        v = ops.reshape(candidates, (-1, d))
        return ops.reshape(self.head_layer.logits(u, v, training=training), (b, m))


def fit_head_listwise(
    head: keras.Model,
    embeddings: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    *,
    epochs: int = 10,
    learning_rate: float = 1e-3,
    batch_size: int = 128,
    seed: int = 0,
    verbose: Any = 0,
) -> dict[str, list[float]]:
    """Train the head's ranking listwise: the softmax of each anchor's true match against the
    tower's hardest candidates for it. Calibration is left to `fit_calibration`.

    A pointwise head trained on hard negatives alone can learn that "very similar" means
    "different"; ranking the true match above the tower's own nearest mistakes cannot.
    """
    layer = head.get_layer("pairwise_head")
    anchors, groups = listwise_groups(embeddings, labels, seed=seed)
    if len(anchors) == 0:
        logger.warning("No candidate group has a true match and enough negatives: head not trained")
        return {}
    frozen = (layer.calibration_scale, layer.calibration_bias)
    for weight in frozen:
        weight.trainable = False
    trainer = ListwiseHeadTrainer(layer)
    trainer.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    fit = trainer.fit(
        (embeddings[anchors], embeddings[groups]),
        np.zeros(len(anchors), np.int64),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=verbose,
    )
    for weight in frozen:
        weight.trainable = True
    return {f"head_listwise_{k}": [float(x) for x in v] for k, v in fit.history.items()}


def fit_calibration(
    head: keras.Model,
    embeddings: npt.NDArray[np.float32],
    pairs: Pairs,
    *,
    right_embeddings: npt.NDArray[np.float32] | None = None,
) -> dict[str, list[float]]:
    """Fit only the head's Platt scaling (`p = sigmoid(a * logit + b)`, a >= 0) on `pairs`,
    so its probabilities match held-out frequencies without changing its order."""
    layer = head.get_layer("pairwise_head")
    calibration = {id(layer.calibration_scale), id(layer.calibration_bias)}
    saved = {id(w): w.trainable for w in head.weights}
    for weight in head.weights:
        weight.trainable = id(weight) in calibration
    try:
        history = fit_head(
            head, embeddings, pairs, right_embeddings=right_embeddings, epochs=5, learning_rate=5e-2
        )
    finally:
        for weight in head.weights:
            weight.trainable = saved[id(weight)]
    return {"head_calibration_loss": history.get("head_loss", [])}


class _HeldOutPearson(keras.callbacks.Callback):
    """Log `val_pearson`, the head's Pearson r with the graded target on held-out pairs, for the
    `EarlyStopping` placed after it."""

    def __init__(self, inputs: dict[str, Any], target: npt.NDArray[np.float32]) -> None:
        super().__init__()
        self.inputs, self.target = inputs, target

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        predicted = np.asarray(self.model.predict(self.inputs, batch_size=4096, verbose=0)).reshape(-1)
        logs["val_pearson"] = pearson(predicted, self.target) if np.ptp(predicted) > 0 else 0.0


def fit_head_graded(
    head: keras.Model,
    embeddings: npt.NDArray[np.float32],
    pairs: Pairs,
    val_pairs: Pairs,
    *,
    epochs: int = 30,
    learning_rate: float = 1e-3,
    batch_size: int = 128,
    patience: int = 5,
    verbose: Any = 0,
) -> tuple[dict[str, list[float]], tuple[float, float]]:
    """Fit the whole head (its order and its output scale) to the pairs' graded scores, rescaled
    to [0, 1] by the training range, with mean squared error, as SentEval fits a regressor on
    `|u - v|, u * v` for SICK-R and STS-B; the epoch with the best held-out Pearson r is kept.

    The head's output is then a predicted similarity on that 0-1 scale, not a probability.

    Returns:
        The history and the `(low, high)` score range that maps to 0 and 1.

    Raises:
        DataError: pairs without scores, or all training scores equal.
    """
    if pairs.score is None or val_pairs.score is None:
        raise DataError("Expected graded pairs (Pairs.score) for fitting the head to scores. Received: none")
    low, high = float(pairs.score.min()), float(pairs.score.max())
    if high <= low:
        raise DataError(f"Expected training scores that differ. Received: all equal to {low}")

    def rescale(p: Pairs) -> npt.NDArray[np.float32]:
        return np.clip((p.targets() - low) / (high - low), 0.0, 1.0).astype(np.float32)

    u, v = embeddings[pairs.left], embeddings[pairs.right]
    target = rescale(pairs)
    held_out = {"u": embeddings[val_pairs.left], "v": embeddings[val_pairs.right]}
    callbacks = [
        _HeldOutPearson(held_out, rescale(val_pairs)),
        keras.callbacks.EarlyStopping(
            monitor="val_pearson", mode="max", patience=patience, restore_best_weights=True
        ),
    ]
    head.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    fit = head.fit(
        {"u": np.concatenate([u, v]), "v": np.concatenate([v, u])},  # both orders
        np.concatenate([target, target]),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=callbacks,
        verbose=verbose,
    )
    history = {f"head_graded_{k}": [float(x) for x in values] for k, values in fit.history.items()}
    return history, (low, high)


@dataclass(frozen=True)
class RerankReport:
    """Precision@1 on held-out queries: the tower's order vs the head's order of its top `depth`.

    `head_only` and `tower_only` count the queries that only one of the two gets right; `p_value`
    is the exact two-sided McNemar test on them (a binomial test at 1/2).
    """

    tower_precision_at_1: float
    head_precision_at_1: float
    recall_at_depth: float
    depth: int
    n_queries: int
    head_only: int = 0
    tower_only: int = 0
    p_value: float = 1.0

    @property
    def head_helps(self) -> bool:
        """The head is better and the difference is not chance (McNemar p < 0.05): small held-out
        gains (+0.007 precision@1 on Abt-Buy validation) turned into losses on test data."""
        return self.head_precision_at_1 > self.tower_precision_at_1 and self.p_value < 0.05


def mcnemar_p_value(b: int, c: int) -> float:
    """Exact two-sided McNemar test: P(a split at least as uneven as `b` vs `c` under 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def rerank_report(
    head: keras.Model,
    embeddings: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    *,
    depth: int = 20,
    max_queries: int = 5000,
    seed: int = 0,
    query_rows: npt.NDArray[np.int64] | None = None,
) -> RerankReport:
    """Measure what re-ranking the tower's top `depth` by the head does to precision@1.

    Every labelled row with a same-class other row is a query, or only those in `query_rows`
    (held-out items searched among the training ones)."""
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels[labels >= 0])
    valid = np.flatnonzero((labels >= 0) & (counts[np.maximum(labels, 0)] >= 2))
    if query_rows is not None:
        valid = np.intersect1d(valid, query_rows)
    queries = rng.choice(valid, size=min(max_queries, valid.size), replace=False)
    lists = neighbour_lists(embeddings, queries, depth)
    u = np.repeat(embeddings[queries], depth, axis=0)
    v = embeddings[lists.reshape(-1)]
    probs = np.asarray(head.predict({"u": u, "v": v}, batch_size=8192, verbose=0)).reshape(-1, depth)
    hit = labels[lists] == labels[queries][:, None]
    tower, head_right = hit[:, 0], hit[np.arange(len(queries)), np.argmax(probs, axis=1)]
    head_only, tower_only = int(np.sum(head_right & ~tower)), int(np.sum(tower & ~head_right))
    return RerankReport(
        tower_precision_at_1=float(tower.mean()),
        head_precision_at_1=float(head_right.mean()),
        recall_at_depth=float(hit.any(axis=1).mean()),
        depth=depth,
        n_queries=len(queries),
        head_only=head_only,
        tower_only=tower_only,
        p_value=mcnemar_p_value(head_only, tower_only),
    )
