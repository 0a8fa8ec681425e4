"""Training on a few labelled items: k-fold cross-validation instead of a split too small to
mean anything.

With few classes, `train_items` holds out items of every class (`split="items"`); when that
leaves fewer than `SMALL_ITEM_VALIDATION` held-out items (5 classes of 10 labelled drawings hold
out 10), one split cannot tell a real gain from luck. Here every labelled item is held out once
(`CV_FOLDS` folds, `selection.item_folds`): in each fold the tower starts from its initial
weights, trains on the other folds for `config.epochs` and, after every epoch, searches the
held-out items against that fold's training items. The pooled per-item hits choose the epoch
count (0 = the start state) and the candidate (`selection.choose_significant`, paired over the
same items), and the held-out query-catalogue distances calibrate the distance threshold and give
the false-accept curve that `--max-far` reads (as the held-out items of a single split do). No
head is trained: too few pairs to show on held-out data that it helps. The chosen candidate is
then retrained on every item for the chosen epoch count.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.evaluation.metrics import far_curve
from simsearch.models.callbacks import Outcomes, QueryRecord, RetrievalValidation, take_rows
from simsearch.models.head import build_head_model
from simsearch.models.inputs import prepare_inputs
from simsearch.models.selection import (
    CV_FOLDS,
    Selection,
    baseline_settings,
    choose,
    choose_significant,
    interval_for,
    item_folds,
    metric_of,
    warn_kept,
)
from simsearch.models.siamese import SiameseModel
from simsearch.models.tower_factory import build_tower

logger = logging.getLogger(__name__)

MONITOR = "val_precision_at_1"


def train_items_cross_validated(
    items: Items, *, tower: str, settings_in: dict[str, Any], config: Any
) -> SiameseModel:
    """`train_items` for few held-out items (see the module docstring); `config` a `TrainConfig`."""
    from simsearch.models.training import (
        _cos_scale,
        _distance_threshold,
        _fit_tower,
        _model_config,
        _n_classes,
        _width,
    )

    labels = items.labels
    model_tower, spec, settings = build_tower(tower, items, settings_in)
    x = prepare_inputs(items.content(), tower, spec)
    metric = metric_of(settings)
    # An epoch of a few dozen items: about 25 passes over them (at most `steps_per_epoch`
    # episodes), and every fold runs all epochs: the pooled curve, not a fold's 10 noisy
    # queries, says when to stop (early stopping per fold left a conv net at 50 steps). An
    # episode holds at most a fold's training items: 128 drawn from 20 repeat each ~6 times, at
    # 6x the cost (ORL's 5 faces at 112x92 ran for over 18 minutes).
    n_classes = _n_classes(labels)
    n_train = math.ceil(len(labels) * (CV_FOLDS - 1) / CV_FOLDS)
    batch = max(min(config.batch_size, max(2 * n_classes, n_train)), 2 * (config.classes_per_batch or 0))
    steps = max(25, math.ceil(25 * n_train / batch))
    config = dataclasses.replace(
        config, monitor=MONITOR, batch_size=batch, steps_per_epoch=min(config.steps_per_epoch, steps)
    )
    fold_config = dataclasses.replace(config, patience=config.epochs, checkpoint_dir=None, log_dir=None)
    initial = model_tower.get_weights()
    folds = item_folds(labels, CV_FOLDS, config.seed)

    def held_out(
        tower_model: Any, x_all: Any, rows: npt.NDArray[np.int64], metric: str = metric
    ) -> RetrievalValidation:
        train_rows = np.setdiff1d(np.arange(len(labels)), rows)
        return RetrievalValidation(
            tower_model, take_rows(x_all, rows), labels[rows], metric=metric, n_way=0,
            catalogue=(take_rows(x_all, train_rows), labels[train_rows]), record=True,
        )  # fmt: skip

    records: list[list[QueryRecord]] = []
    for f, rows in enumerate(folds):
        model_tower.set_weights(initial)
        train_rows = np.setdiff1d(np.arange(len(labels)), rows)
        validation = held_out(model_tower, x, rows)
        validation.measure()
        _fit_tower(
            model_tower, tower, take_rows(x, train_rows), labels[train_rows], fold_config, validation, MONITOR
        )
        seen = validation.records
        records.append(seen + [seen[-1]] * (config.epochs + 1 - len(seen)))
        logger.info(
            "Fold %d/%d: %s by epoch %s", f + 1, len(folds), MONITOR,
            [round(float(r.hits.mean()), 4) for r in seen],
        )  # fmt: skip
    pooled = np.stack([np.concatenate([fold[e].hits for fold in records]) for e in range(config.epochs + 1)])
    curve = pooled.mean(axis=1)
    trainable = bool(model_tower.trainable_weights)
    best_epochs = int(np.argmax(curve)) if config.keep_baseline else 1 + int(np.argmax(curve[1:]))
    best_epochs = best_epochs if trainable else 0

    own = baseline_settings(tower, settings_in)
    hits: dict[str, npt.NDArray[np.bool_]] = {}
    baseline_records: list[QueryRecord] = []
    if own is not None:  # a tower that does not start as its baseline: measure the baseline too
        b_tower, b_spec, b_settings = build_tower(tower, items, own)
        b_x = prepare_inputs(items.content(), tower, b_spec)
        for rows in folds:
            validation = held_out(b_tower, b_x, rows, metric_of(b_settings))
            validation.measure()
            baseline_records.append(validation.records[-1])
        hits["baseline"] = np.concatenate([r.hits for r in baseline_records])
        if trainable:
            hits["initial"] = pooled[0]
    else:
        hits["baseline"] = pooled[0]
    if best_epochs:
        hits["trained"] = pooled[best_epochs]
    scores = {name: float(h.mean()) for name, h in hits.items()}
    outcomes = {name: _hit_outcomes(h) for name, h in hits.items()}
    p_value = other = None
    if config.keep_baseline:
        chosen, p_value, other = choose_significant(scores, outcomes.get)
    else:
        chosen = "trained" if "trained" in scores else choose(scores)

    model_tower.set_weights(initial)
    history: dict[str, list[float]] = {}
    if chosen == "baseline" and own is not None:
        model_tower, spec, settings = b_tower, b_spec, b_settings
        chosen_records, metric = baseline_records, metric_of(b_settings)
    else:
        epoch = best_epochs if chosen == "trained" else 0
        chosen_records = [fold[epoch] for fold in records]
        if chosen == "trained":
            history = _fit_tower(model_tower, tower, x, labels, config, None, MONITOR, epochs=best_epochs)
    if chosen != "trained":
        best = float(curve[1:].max()) if len(curve) > 1 else float("nan")
        where = f"{len(folds)}-fold cross-validation of the items"
        warn_kept(chosen, where, MONITOR, best, scores[chosen], tested=p_value is not None)
    selection = Selection(
        "item-cross-validation", len(pooled[0]), MONITOR, scores, chosen, folds=len(folds),
        epochs=best_epochs, p_value=p_value, rival=other,
    )  # fmt: skip
    selection.interval = interval_for(MONITOR, scores[chosen], len(pooled[0]))
    distances = np.concatenate([r.distance.ravel() for r in chosen_records])
    same = np.concatenate([r.same.ravel() for r in chosen_records]).astype(np.int8)
    rows = np.arange(len(same))
    threshold = _distance_threshold(distances, Pairs(rows, rows, same), config.threshold_criterion)
    reason = (
        f"{len(labels)} labelled items in {n_classes} classes: too few "
        "to show on held-out data that a head helps"
    )
    summary = {"trained": False, "decides": False, "rerank_default": False, "depth": 0, "reason": reason}
    head = build_head_model(_width(model_tower), cos_scale=_cos_scale(history, config))
    model_config = _model_config(
        tower, spec, settings, metric, config, threshold, summary, history, dim=_width(model_tower)
    )
    model_config["classes"] = {"train": n_classes, "validation": n_classes}
    model_config["validation"] = selection.as_config()
    if same.any() and not same.all():  # what `--max-far` reads: the same held-out distances
        model_config["threshold"].setdefault("curves", {})["far"] = far_curve(same, distances)
    return SiameseModel(model_tower, head, model_config, history)


def _hit_outcomes(hits: npt.NDArray[np.bool_]) -> Outcomes:
    return Outcomes(len(hits), lambda rows: float(hits[rows].mean()))
