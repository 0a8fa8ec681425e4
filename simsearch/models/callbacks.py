"""Validation callbacks: measure the tower on held-out data at each epoch's end.

They write `val_*` entries into the epoch logs, which `EarlyStopping` and `ModelCheckpoint`
placed after them in the callback list then read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.pairs import Pairs
from simsearch.evaluation.correlation import spearman
from simsearch.evaluation.evaluate import all_pairs_far_curve, tar_at_far
from simsearch.evaluation.metrics import average_precision, roc_auc
from simsearch.evaluation.oneshot import OneShotResult, n_way_k_shot_accuracy
from simsearch.evaluation.retrieval import retrieval_metrics

__all__ = [
    "VAL_MAX_FAR",
    "PairValidation",
    "RetrievalValidation",
    "catalogue_retrieval",
    "pair_validation_metrics",
    "take_rows",
]

VAL_MAX_FAR = 0.001  # the false-accept rate of `val_tar_at_far`


@dataclass(frozen=True)
class QueryRecord:
    """One measurement of held-out queries against a catalogue (`RetrievalValidation(record=
    True)`): `hits` `(n_queries,)` whether each query's nearest item has its class, `distance`
    and `same` `(n_queries, n_catalogue)`, every query-catalogue pair's distance and label."""

    hits: npt.NDArray[np.bool_]
    distance: npt.NDArray[np.float32]
    same: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Outcomes:
    """A held-out metric as a statistic of `n` resampleable units (queries, trials, classes or
    pairs): `stat(rows)` is the metric on the units `rows` (with repeats)."""

    n: int
    stat: Callable[[npt.NDArray[np.int64]], float]


def _encode(tower: keras.Model, x: Any) -> npt.NDArray[np.float32]:
    return np.asarray(tower.predict(x, batch_size=512, verbose=0), dtype=np.float32)


class RetrievalValidation(keras.callbacks.Callback):
    """Log `val_precision_at_1`, `val_recall_at_5`, `val_oneshot` (N-way one-shot accuracy,
    within groups when given) and `val_tar_at_far` (genuine pairs accepted at a false-accept
    rate of at most `VAL_MAX_FAR`, over every pair of up to 400 held-out items) on held-out
    items.

    Without `catalogue`, every held-out item queries the other held-out ones. With
    `catalogue=(x, labels)`, each held-out item queries the catalogue and the other held-out
    items, as a search runs against a whole indexed catalogue: training items of the same
    classes (a new photo of a known person), or of other classes, as distractors that a catalogue
    of everything holds (held-out classes). `val_oneshot` is drawn among the held-out items
    alone, when `n_way >= 2`.
    """

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
        catalogue: tuple[Any, npt.NDArray[np.int64]] | None = None,
        record: bool = False,
    ) -> None:
        super().__init__()
        self.tower, self.x_val, self.labels = tower, x_val, labels
        self.groups, self.metric = groups, metric
        self.n_way, self.n_trials = n_way, n_trials
        self.catalogue = catalogue
        self.record = record
        self.records: list[QueryRecord] = []

    def _record(
        self,
        xq: npt.NDArray[np.float32],
        xb: npt.NDArray[np.float32],
        b_labels: npt.NDArray[np.int64],
        hits: npt.NDArray[np.bool_],
    ) -> QueryRecord:
        keep = self.labels >= 0
        if self.metric == "cosine":
            distance = 1.0 - _unit(xq[keep]) @ _unit(xb).T
        else:
            distance = np.sqrt(np.maximum(((xq[keep, None, :] - xb[None, :, :]) ** 2).sum(-1), 0.0))
        same = self.labels[keep, None] == b_labels[None, :]
        return QueryRecord(hits[:, 0], distance.astype(np.float32), same)

    @property
    def n_queries(self) -> int:
        return int((self.labels >= 0).sum())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs.update(self.measure())

    def measure(self, tower: keras.Model | None = None) -> dict[str, float]:
        """The validation metrics of `tower` (default: the one being trained)."""
        tower = tower or self.tower
        embeddings = _encode(tower, self.x_val)
        logs: dict[str, float]
        if self.catalogue is not None:
            x_catalogue, catalogue_labels = self.catalogue
            e_catalogue = _encode(tower, x_catalogue)
            hits = catalogue_hits(embeddings, self.labels, e_catalogue, catalogue_labels, self.metric)
            logs = _hit_metrics(hits)
            if self.record:
                self.records.append(self._record(embeddings, e_catalogue, catalogue_labels, hits))
        else:
            retrieval = retrieval_metrics(embeddings, self.labels, ks=(1, 5), metric=self.metric)  # type: ignore[arg-type]
            logs = {
                "val_precision_at_1": float(retrieval["precision@1"]),
                "val_recall_at_5": float(retrieval["recall@5"]),
            }
        if self.n_way >= 2:
            logs["val_oneshot"] = float(self._oneshot(embeddings).accuracy)
        curve = all_pairs_far_curve(embeddings, self.labels, self.metric)
        if curve is not None:
            logs["val_tar_at_far"] = tar_at_far(curve, VAL_MAX_FAR)
        return logs

    def _oneshot(self, embeddings: npt.NDArray[np.float32]) -> OneShotResult:
        """N-way one-shot over the held-out items: within groups when they allow it; seeded, so
        every tower answers the same trials."""
        usable = self.groups is not None and _groups_usable(self.groups, self.labels, self.n_way)
        return n_way_k_shot_accuracy(
            embeddings,
            self.labels,
            n_way=self.n_way,
            n_trials=self.n_trials,
            groups=self.groups if usable else None,
            metric=self.metric,  # type: ignore[arg-type]
            seed=0,
        )

    def outcomes(self, tower: keras.Model, monitor: str) -> Outcomes | None:
        """`tower`'s held-out `monitor` as a statistic of resampled units, for a paired test
        against another tower on the same units (`selection.paired_p_value`): queries for
        precision@1 and recall@5, trials for one-shot (the same trials for every tower), and
        held-out classes for TAR at the false-accept rate. None for other metrics."""
        embeddings = _encode(tower, self.x_val)
        if monitor in ("val_precision_at_1", "val_recall_at_5"):
            xb, b_labels = (
                (_encode(tower, self.catalogue[0]), self.catalogue[1])
                if self.catalogue is not None
                else (embeddings[:0], self.labels[:0])
            )
            hits = catalogue_hits(embeddings, self.labels, xb, b_labels, self.metric)
            per_query: npt.NDArray[np.bool_] = (
                hits[:, 0] if monitor == "val_precision_at_1" else np.any(hits, axis=1)
            )
            return Outcomes(len(per_query), lambda rows: float(per_query[rows].mean()))
        if monitor == "val_oneshot" and self.n_way >= 2:
            trials = np.asarray(self._oneshot(embeddings).hits)
            return Outcomes(len(trials), lambda rows: float(trials[rows].mean()))
        if monitor == "val_tar_at_far":
            classes = np.unique(self.labels[self.labels >= 0])

            def tar(rows: npt.NDArray[np.int64]) -> float:
                # a class drawn twice would pair its items with themselves: each class once
                keep = np.isin(self.labels, classes[np.unique(rows)])
                curve = all_pairs_far_curve(embeddings[keep], self.labels[keep], self.metric)
                return float("nan") if curve is None else tar_at_far(curve, VAL_MAX_FAR)

            return Outcomes(len(classes), tar)
        return None


def catalogue_retrieval(
    xq: npt.NDArray[np.float32],
    q_labels: npt.NDArray[np.int64],
    xb: npt.NDArray[np.float32],
    b_labels: npt.NDArray[np.int64],
    metric: str = "cosine",
) -> dict[str, float]:
    """`val_precision_at_1` and `val_recall_at_5` of queries `xq` searched, by brute force, in
    the catalogue `xb` plus the other queries (each query leaves itself out)."""
    return _hit_metrics(catalogue_hits(xq, q_labels, xb, b_labels, metric))


def _hit_metrics(hits: npt.NDArray[np.bool_]) -> dict[str, float]:
    """`val_precision_at_1` and `val_recall_at_5` of `catalogue_hits`."""
    return {
        "val_precision_at_1": float(hits[:, 0].mean()),
        "val_recall_at_5": float(hits.any(axis=1).mean()),
    }


def catalogue_hits(
    xq: npt.NDArray[np.float32],
    q_labels: npt.NDArray[np.int64],
    xb: npt.NDArray[np.float32],
    b_labels: npt.NDArray[np.int64],
    metric: str = "cosine",
) -> npt.NDArray[np.bool_]:
    """`(n_labelled_queries, 5)`: whether each of a query's 5 nearest (as `catalogue_retrieval`
    searches) has its class."""
    keep = q_labels >= 0
    xq, q_labels = xq[keep], q_labels[keep]
    base = np.concatenate([xq, xb])
    base_labels = np.concatenate([q_labels, b_labels])
    if metric == "cosine":
        xq, base = _unit(xq), _unit(base)
    hits = np.zeros((len(xq), 5), bool)
    for start in range(0, len(xq), 1024):
        rows = np.arange(start, min(start + 1024, len(xq)))
        if metric == "cosine":
            d = -(xq[rows] @ base.T)
        else:
            d = (xq[rows] ** 2).sum(1)[:, None] - 2 * xq[rows] @ base.T + (base**2).sum(1)[None, :]
        d[np.arange(len(rows)), rows] = np.inf  # the query itself
        top = np.argsort(d, axis=1, kind="stable")[:, :5]
        hits[rows, : top.shape[1]] = base_labels[top] == q_labels[rows, None]
    return hits


def _groups_usable(groups: npt.NDArray[np.str_], labels: npt.NDArray[np.int64], n_way: int) -> bool:
    return any(len(np.unique(labels[groups == group])) >= n_way for group in np.unique(groups))


class PairValidation(keras.callbacks.Callback):
    """Log `val_average_precision` and `val_auc` of the tower's distance on held-out pairs, and
    `val_spearman` (rank correlation with the graded score) when the pairs have scores."""

    def __init__(self, tower: keras.Model, x: Any, pairs: Pairs, *, metric: str = "cosine") -> None:
        super().__init__()
        self.tower, self.x, self.pairs, self.metric = tower, x, pairs, metric
        self.rows = np.unique(np.concatenate([pairs.left, pairs.right]))
        self.scores: list[npt.NDArray[np.float32]] = []

    @property
    def n_queries(self) -> int:
        return len(self.pairs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs.update(self.measure())

    def similarities(self, tower: keras.Model | None = None) -> npt.NDArray[np.float32]:
        """`(n_pairs,)` similarity of each held-out pair: cosine, or minus the l2 distance."""
        encoded = _encode(tower or self.tower, take_rows(self.x, self.rows))
        embeddings = np.zeros((int(self.rows.max()) + 1, encoded.shape[1]), np.float32)
        embeddings[self.rows] = encoded
        u, v = embeddings[self.pairs.left], embeddings[self.pairs.right]
        if self.metric == "cosine":
            return np.sum(_unit(u) * _unit(v), axis=1)
        return -np.linalg.norm(u - v, axis=1)

    def measure(self, tower: keras.Model | None = None) -> dict[str, float]:
        """The validation metrics of `tower` (default: the one being trained); the pairs'
        similarities are kept in `self.scores` (one array per call)."""
        score = self.similarities(tower)
        self.scores.append(score)
        return pair_validation_metrics(self.pairs, score)

    def outcomes(self, tower: keras.Model, monitor: str) -> Outcomes | None:
        """`tower`'s held-out `monitor` as a statistic of resampled pairs (see
        `RetrievalValidation.outcomes`)."""
        return pair_outcomes(self.pairs, self.similarities(tower), monitor)


def pair_outcomes(pairs: Pairs, score: npt.NDArray[np.float32], monitor: str) -> Outcomes | None:
    """`monitor` (a `pair_validation_metrics` key) of `score` as a statistic of resampled pairs;
    NaN for a resample without both labels."""
    if monitor not in pair_validation_metrics(pairs, score):
        return None

    def stat(rows: npt.NDArray[np.int64]) -> float:
        sample = pairs.take(rows)
        if sample.same.min() == sample.same.max():
            return float("nan")
        return pair_validation_metrics(sample, score[rows])[monitor]

    return Outcomes(len(pairs), stat)


def pair_validation_metrics(pairs: Pairs, score: npt.NDArray[np.float32]) -> dict[str, float]:
    """`val_average_precision`, `val_auc` and, with graded pairs, `val_spearman` of `score`."""
    logs = {
        "val_average_precision": float(average_precision(pairs.same, score)),
        "val_auc": float(roc_auc(pairs.same, score)),
    }
    if pairs.score is not None:
        logs["val_spearman"] = float(spearman(score, pairs.score))
    return logs


def _unit(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def take_rows(x: Any, rows: npt.NDArray[np.int64]) -> Any:
    """The `rows` of tower inputs: an array, or a dict of columns."""
    if isinstance(x, dict):
        return {name: column[rows] for name, column in x.items()}
    return x[rows]
