"""Cross-validation for the recipe's choose step when one held-out split is too small to mean
anything: one fold loop for labelled items and labelled pairs.

Every labelled unit is held out once (`CV_FOLDS` folds). In each fold the tower starts from its
initial weights, trains on the other folds for `config.epochs` and is measured on the held-out
fold at the start and after every epoch (`run_folds`). The folds' measurements, pooled, give
each epoch count a held-out score; the best count (0 = the start state) is the trained
candidate, and `selection.select` chooses among it, the start state and the non-learned
baseline, paired over the same held-out units. The chosen candidate is then retrained on all
the data for the chosen epoch count (`cross_validate`).

What differs between items and pairs is a `FoldPlan`: `ItemFolds` (each held-out item searches
its fold's training items; precision@1 pooled over the items) and `PairFolds` (the held-out
pairs' similarities; the monitored metric averaged over the folds).
"""

from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.evaluation.metrics import far_curve
from simsearch.models.calibration import distance_threshold
from simsearch.models.callbacks import (
    Outcomes,
    PairValidation,
    QueryRecord,
    RetrievalValidation,
    pair_outcomes,
    pair_validation_metrics,
    take_rows,
)
from simsearch.models.fitting import entity_labels, fit_items, fit_pairs
from simsearch.models.recipe import Built
from simsearch.models.selection import (
    CV_FOLDS,
    Selection,
    best_of,
    bootstrap_interval,
    candidates,
    interval_for,
    item_folds,
    mode_of,
    pair_folds,
    select,
)
from simsearch.train_config import TrainConfig

__all__ = ["CrossValidated", "FoldPlan", "ItemFolds", "PairFolds", "cross_validate", "run_folds"]

logger = logging.getLogger(__name__)

M = TypeVar("M")  # one fold's measurement of a tower at one epoch count
Rows = npt.NDArray[np.int64]
History = dict[str, list[float]]


class FoldPlan(ABC, Generic[M]):
    """Labelled data cut into folds: how a fold is held out, trained on and measured, and how
    the folds' measurements (`per_fold`: one `M` per fold) pool into a held-out score.

    Attributes:
        items: the items the tower's inputs are prepared from.
        folds: the held-out rows of each fold (rows of the labels, or of the pairs).
        monitor: the held-out metric that chooses.
        split: the `Selection.split` it records.
    """

    split = "cross-validation"

    def __init__(self, items: Items, folds: list[Rows], size: int, monitor: str) -> None:
        self.items, self.folds, self.size, self.monitor = items, folds, size, monitor

    @property
    def n(self) -> int:
        """The held-out units: every unit of every fold."""
        return sum(len(rows) for rows in self.folds)

    @property
    def where(self) -> str:
        """The held-out data, as a warning names it."""
        return f"{len(self.folds)}-fold cross-validation"

    def rest(self, rows: Rows) -> Rows:
        """The training rows of the fold that holds out `rows`."""
        return np.setdiff1d(np.arange(self.size), rows)

    def untrained(self, built: Built) -> list[M]:
        """Each fold's held-out measurement of `built` untrained (the baseline)."""
        return [fold[0] for fold in run_folds(self, built, built.inputs(self.items))]

    @abstractmethod
    def validation(self, built: Built, x: Any, rows: Rows) -> Any:
        """The validation callback that measures `built` on the held-out `rows`."""

    @abstractmethod
    def measured(self, validation: Any) -> list[M]:
        """Everything `validation` measured, one `M` per measurement."""

    @abstractmethod
    def fit(
        self, built: Built, x: Any, rows: Rows | None, config: TrainConfig, validation: Any,
        epochs: int | None = None,
    ) -> History:  # fmt: skip
        """Train `built` on the training `rows` (None: all of them)."""

    @abstractmethod
    def fold_score(self, rows: Rows, measurement: M) -> float:
        """The monitored metric of one fold's measurement."""

    @abstractmethod
    def score(self, per_fold: list[M]) -> float:
        """The monitored metric over every fold."""

    @abstractmethod
    def outcomes(self, per_fold: list[M]) -> Outcomes | None:
        """The monitored metric as a statistic of resampled held-out units."""

    @abstractmethod
    def interval(self, per_fold: list[M], value: float) -> tuple[float, float] | None:
        """The 95% interval of the score `value` of `per_fold`."""

    @abstractmethod
    def threshold(self, per_fold: list[M], metric: str, criterion: str) -> dict[str, Any]:
        """The distance threshold calibrated on the pooled held-out distances."""


class ItemFolds(FoldPlan[QueryRecord]):
    """Folds of labelled items (`selection.item_folds`): each held-out item searches its fold's
    training items, and precision@1 pools over all the held-out items."""

    split = "item-cross-validation"

    def __init__(self, items: Items, config: TrainConfig) -> None:
        folds = item_folds(items.labels, CV_FOLDS, config.seed)
        super().__init__(items, folds, len(items.labels), str(config.monitor))

    @property
    def where(self) -> str:
        return f"{len(self.folds)}-fold cross-validation of the items"

    def validation(self, built: Built, x: Any, rows: Rows) -> RetrievalValidation:
        labels, train_rows = self.items.labels, self.rest(rows)
        return RetrievalValidation(
            built.tower, take_rows(x, rows), labels[rows], metric=built.metric, n_way=0,
            catalogue=(take_rows(x, train_rows), labels[train_rows]), record=True,
        )  # fmt: skip

    def measured(self, validation: RetrievalValidation) -> list[QueryRecord]:
        return validation.records

    def fit(
        self, built: Built, x: Any, rows: Rows | None, config: TrainConfig, validation: Any,
        epochs: int | None = None,
    ) -> History:  # fmt: skip
        labels = self.items.labels
        if rows is not None:
            x, labels = take_rows(x, rows), labels[rows]
        return fit_items(built.tower, built.kind, x, labels, config, validation, self.monitor, epochs=epochs)

    def fold_score(self, rows: Rows, measurement: QueryRecord) -> float:
        return float(measurement.hits.mean())

    def score(self, per_fold: list[QueryRecord]) -> float:
        return float(_hits(per_fold).mean())

    def outcomes(self, per_fold: list[QueryRecord]) -> Outcomes:
        hits = _hits(per_fold)
        return Outcomes(len(hits), lambda rows: float(hits[rows].mean()))

    def interval(self, per_fold: list[QueryRecord], value: float) -> tuple[float, float] | None:
        return interval_for(self.monitor, value, len(_hits(per_fold)))

    def threshold(self, per_fold: list[QueryRecord], metric: str, criterion: str) -> dict[str, Any]:
        """Calibrated on every held-out query-catalogue distance, with the false-accept curve
        of the same distances that `--max-far` reads."""
        distances = np.concatenate([r.distance.ravel() for r in per_fold])
        same = np.concatenate([r.same.ravel() for r in per_fold]).astype(np.int8)
        rows = np.arange(len(same))
        threshold = distance_threshold(distances, Pairs(rows, rows, same), criterion)
        if same.any() and not same.all():
            threshold.setdefault("curves", {})["far"] = far_curve(same, distances)
        return threshold


def _hits(per_fold: list[QueryRecord]) -> npt.NDArray[np.bool_]:
    return np.concatenate([r.hits for r in per_fold])


class PairFolds(FoldPlan[npt.NDArray[np.float32]]):
    """Folds of labelled pairs (`selection.pair_folds`, stratified by label) over a catalogue:
    the held-out pairs' similarities, and the monitored metric averaged over the folds."""

    def __init__(self, catalog: Items, pairs: Pairs, config: TrainConfig) -> None:
        folds = pair_folds(pairs, CV_FOLDS, config.seed)
        super().__init__(catalog, folds, len(pairs), str(config.monitor))
        self.pairs = pairs

    def untrained(self, built: Built) -> list[npt.NDArray[np.float32]]:
        """Measured once over all the pairs: an untrained tower is the same in every fold."""
        x = built.inputs(self.items)
        similarity = PairValidation(built.tower, x, self.pairs, metric=built.metric).similarities()
        return [similarity[rows] for rows in self.folds]

    def validation(self, built: Built, x: Any, rows: Rows) -> PairValidation:
        return PairValidation(built.tower, x, self.pairs.take(rows), metric=built.metric)

    def measured(self, validation: PairValidation) -> list[npt.NDArray[np.float32]]:
        return validation.scores

    def fit(
        self, built: Built, x: Any, rows: Rows | None, config: TrainConfig, validation: Any,
        epochs: int | None = None,
    ) -> History:  # fmt: skip
        pairs = self.pairs if rows is None else self.pairs.take(rows)
        entity = entity_labels(len(self.items), pairs)
        return fit_pairs(built.tower, built.kind, x, pairs, entity, config, validation, self.monitor, epochs)

    def fold_score(self, rows: Rows, measurement: npt.NDArray[np.float32]) -> float:
        return pair_validation_metrics(self.pairs.take(rows), measurement)[self.monitor]

    def score(self, per_fold: list[npt.NDArray[np.float32]]) -> float:
        values = [self.fold_score(rows, s) for rows, s in zip(self.folds, per_fold, strict=True)]
        return float(np.mean(np.asarray(values, dtype=np.float64)))

    def outcomes(self, per_fold: list[npt.NDArray[np.float32]]) -> Outcomes | None:
        return pair_outcomes(self.pairs, self._pooled(per_fold), self.monitor)

    def interval(self, per_fold: list[npt.NDArray[np.float32]], value: float) -> tuple[float, float] | None:
        return bootstrap_interval(
            lambda p, s: pair_validation_metrics(p, s).get(self.monitor, float("nan")),
            self.pairs,
            self._pooled(per_fold),
        )

    def threshold(
        self, per_fold: list[npt.NDArray[np.float32]], metric: str, criterion: str
    ) -> dict[str, Any]:
        similarity = self._pooled(per_fold)
        distances = (1.0 - similarity) if metric == "cosine" else -similarity
        return distance_threshold(distances, self.pairs, criterion)

    def _pooled(self, per_fold: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        """Every pair's out-of-fold similarity."""
        pooled = np.empty(len(self.pairs), np.float32)
        for rows, similarity in zip(self.folds, per_fold, strict=True):
            pooled[rows] = similarity
        return pooled


def run_folds(plan: FoldPlan[M], built: Built, x: Any, config: TrainConfig | None = None) -> list[list[M]]:
    """Each fold's held-out measurements of `built`, the start state first: with `config`, the
    tower trains from its initial weights on the other folds for `config.epochs` and is measured
    after every epoch (padded to `epochs + 1` by repeating the last, when a fold stopped early);
    without, it is measured once, untrained."""
    initial = built.tower.get_weights()
    epochs = 0 if config is None else config.epochs
    measured = []
    for f, rows in enumerate(plan.folds):
        built.tower.set_weights(initial)
        validation = plan.validation(built, x, rows)
        validation.measure()
        if config is not None:
            plan.fit(built, x, plan.rest(rows), config, validation)
        seen = plan.measured(validation)
        measured.append(seen + [seen[-1]] * (epochs + 1 - len(seen)))
        if config is not None:
            logger.info(
                "Fold %d/%d: %s by epoch %s", f + 1, len(plan.folds), plan.monitor,
                [round(plan.fold_score(rows, m), 4) for m in seen],
            )  # fmt: skip
    return measured


@dataclass
class CrossValidated(Generic[M]):
    """What `cross_validate` chose: the tower to save (retrained on all the data when the
    trained candidate won), its training history, the selection, and the chosen candidate's
    held-out measurements (one per fold), which calibrate its threshold."""

    built: Built
    history: History
    selection: Selection
    held_out: list[M]


def cross_validate(
    plan: FoldPlan[M], built: Built, baseline: Callable[[], Built | None], config: TrainConfig
) -> CrossValidated[M]:
    """Choose the epoch count and the candidate to save by cross-validation (module docstring);
    `baseline` builds the non-learned baseline when the tower is not its own."""
    x = built.inputs(plan.items)
    initial = built.tower.get_weights()
    fold_config = dataclasses.replace(config, patience=config.epochs, checkpoint_dir=None, log_dir=None)
    measured = run_folds(plan, built, x, fold_config)
    by_epoch = [[fold[e] for fold in measured] for e in range(config.epochs + 1)]
    curve = np.array([plan.score(per_fold) for per_fold in by_epoch])
    mode = mode_of(plan.monitor)
    trainable = bool(built.tower.trainable_weights)
    epochs = _epoch_count(curve, mode, keep_start=config.keep_baseline) if trainable else 0
    rival = baseline()
    at_start = None if rival is None else plan.untrained(rival)
    trained = by_epoch[epochs] if epochs else None
    held_out = candidates(by_epoch[0], trained, at_start, trainable=trainable)
    scores = {name: plan.score(per_fold) for name, per_fold in held_out.items()}
    selection = Selection(plan.split, plan.n, plan.monitor, scores, folds=len(plan.folds), epochs=epochs)
    select(
        selection, lambda name: plan.outcomes(held_out[name]), keep_baseline=config.keep_baseline,
        where=plan.where, trained_best=best_of(curve[1:], mode),
    )  # fmt: skip
    built.tower.set_weights(initial)
    history: History = {}
    if selection.chosen == "baseline" and rival is not None:
        built = rival
    elif selection.chosen == "trained":
        history = plan.fit(built, x, None, config, None, epochs=epochs)
    chosen = held_out[selection.chosen]
    selection.interval = plan.interval(chosen, scores[selection.chosen])
    return CrossValidated(built, history, selection, chosen)


def _epoch_count(curve: npt.NDArray[np.float64], mode: str, *, keep_start: bool) -> int:
    """The epoch count of the best mean held-out score; 0 (the start state) only when
    `keep_start` allows saving an untrained candidate."""
    pick = np.argmin if mode == "min" else np.argmax
    return int(pick(curve)) if keep_start else 1 + int(pick(curve[1:]))
