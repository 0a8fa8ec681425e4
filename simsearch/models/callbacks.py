"""Validation callbacks: measure the tower on held-out data at each epoch's end.

They write `val_*` entries into the epoch logs, which `EarlyStopping` and `ModelCheckpoint`
placed after them in the callback list then read.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.pairs import Pairs
from simsearch.evaluation.correlation import spearman
from simsearch.evaluation.evaluate import all_pairs_far_curve, tar_at_far
from simsearch.evaluation.metrics import average_precision, roc_auc
from simsearch.evaluation.oneshot import n_way_k_shot_accuracy
from simsearch.evaluation.retrieval import retrieval_metrics

__all__ = ["VAL_MAX_FAR", "PairValidation", "RetrievalValidation", "take_rows"]

VAL_MAX_FAR = 0.001  # the false-accept rate of `val_tar_at_far`


def _encode(tower: keras.Model, x: Any) -> npt.NDArray[np.float32]:
    return np.asarray(tower.predict(x, batch_size=512, verbose=0), dtype=np.float32)


class RetrievalValidation(keras.callbacks.Callback):
    """Log `val_precision_at_1`, `val_recall_at_5`, `val_oneshot` (N-way one-shot accuracy,
    within groups when given) and `val_tar_at_far` (genuine pairs accepted at a false-accept
    rate of at most `VAL_MAX_FAR`, over every pair of up to 400 held-out items) on held-out
    classes."""

    def __init__(
        self,
        tower: keras.Model,
        x_val: Any,
        labels: npt.NDArray[np.int64],
        *,
        groups: npt.NDArray[np.str_] | None = None,
        metric: str = "cosine",
        n_way: int = 20,
        n_trials: int = 500,
    ) -> None:
        super().__init__()
        self.tower, self.x_val, self.labels = tower, x_val, labels
        self.groups, self.metric = groups, metric
        self.n_way, self.n_trials = n_way, n_trials

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        embeddings = _encode(self.tower, self.x_val)
        retrieval = retrieval_metrics(embeddings, self.labels, ks=(1, 5), metric=self.metric)  # type: ignore[arg-type]
        logs["val_precision_at_1"] = float(retrieval["precision@1"])
        logs["val_recall_at_5"] = float(retrieval["recall@5"])
        if self.n_way >= 2:
            groups = (
                self.groups
                if self.groups is not None and _groups_usable(self.groups, self.labels, self.n_way)
                else None
            )
            result = n_way_k_shot_accuracy(
                embeddings,
                self.labels,
                n_way=self.n_way,
                n_trials=self.n_trials,
                groups=groups,
                metric=self.metric,  # type: ignore[arg-type]
                seed=0,
            )
            logs["val_oneshot"] = float(result.accuracy)
        curve = all_pairs_far_curve(embeddings, self.labels, self.metric)
        if curve is not None:
            logs["val_tar_at_far"] = tar_at_far(curve, VAL_MAX_FAR)


def _groups_usable(groups: npt.NDArray[np.str_], labels: npt.NDArray[np.int64], n_way: int) -> bool:
    return any(len(np.unique(labels[groups == group])) >= n_way for group in np.unique(groups))


class PairValidation(keras.callbacks.Callback):
    """Log `val_average_precision` and `val_auc` of the tower's distance on held-out pairs, and
    `val_spearman` (rank correlation with the graded score) when the pairs have scores."""

    def __init__(self, tower: keras.Model, x: Any, pairs: Pairs, *, metric: str = "cosine") -> None:
        super().__init__()
        self.tower, self.x, self.pairs, self.metric = tower, x, pairs, metric
        self.rows = np.unique(np.concatenate([pairs.left, pairs.right]))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        subset = take_rows(self.x, self.rows)
        encoded = _encode(self.tower, subset)
        embeddings = np.zeros((int(self.rows.max()) + 1, encoded.shape[1]), np.float32)
        embeddings[self.rows] = encoded
        u, v = embeddings[self.pairs.left], embeddings[self.pairs.right]
        if self.metric == "cosine":
            score = np.sum(_unit(u) * _unit(v), axis=1)
        else:
            score = -np.linalg.norm(u - v, axis=1)
        logs["val_average_precision"] = float(average_precision(self.pairs.same, score))
        logs["val_auc"] = float(roc_auc(self.pairs.same, score))
        if self.pairs.score is not None:
            logs["val_spearman"] = float(spearman(score, self.pairs.score))


def _unit(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def take_rows(x: Any, rows: npt.NDArray[np.int64]) -> Any:
    """The `rows` of tower inputs: an array, or a dict of columns."""
    if isinstance(x, dict):
        return {name: column[rows] for name, column in x.items()}
    return x[rows]
