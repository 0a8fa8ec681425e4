"""Training on a few labelled items or pairs: k-fold cross-validation instead of a split too
small to mean anything.

With few classes, `train_items` holds out items of every class (`split="items"`); when that
leaves fewer than `SMALL_ITEM_VALIDATION` held-out items (5 classes of 10 labelled drawings hold
out 10), one split cannot tell a real gain from luck; `train_pairs` below `SMALL_PAIR_SET` pairs
is in the same place. Here every labelled item (or pair) is held out once
(`cross_validation.cross_validate`): the pooled held-out measurements choose the epoch count and
the candidate, and the held-out distances calibrate the distance threshold (for items also the
false-accept curve that `--max-far` reads, as the held-out items of a single split do). No head
is trained: too few pairs to show on held-out data that it helps.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.models.calibration import head_cos_scale, untrained_head
from simsearch.models.cross_validation import ItemFolds, PairFolds, cross_validate
from simsearch.models.recipe import build, build_baseline, finish, n_classes
from simsearch.models.selection import CV_FOLDS
from simsearch.models.siamese import SiameseModel
from simsearch.train_config import TrainConfig

__all__ = ["MONITOR", "train_items_cross_validated", "train_pairs_cross_validated"]

MONITOR = "val_precision_at_1"


def train_items_cross_validated(
    items: Items, *, tower: str, settings_in: dict[str, Any], config: TrainConfig
) -> SiameseModel:
    """`train_items` for few held-out items (see the module docstring)."""
    config = few_items_config(items, config)
    plan = ItemFolds(items, config)
    chosen = cross_validate(
        plan, build(tower, items, settings_in), lambda: build_baseline(tower, items, settings_in), config
    )
    threshold = plan.threshold(chosen.held_out, chosen.built.metric, config.threshold_criterion)
    classes = n_classes(items.labels)
    reason = (
        f"{len(items.labels)} labelled items in {classes} classes: too few "
        "to show on held-out data that a head helps"
    )
    head, summary = untrained_head(chosen.built.dim, head_cos_scale(chosen.history, config), reason)
    return finish(
        chosen.built, head, config, threshold, summary, chosen.history, chosen.selection,
        {"classes": {"train": classes, "validation": classes}},
    )  # fmt: skip


def few_items_config(items: Items, config: TrainConfig) -> TrainConfig:
    """`config` for cross-validating a few items, monitored by precision@1.

    An epoch of a few dozen items is about 25 passes over them (at most `steps_per_epoch`
    episodes), and every fold runs all epochs: the pooled curve, not a fold's 10 noisy queries,
    says when to stop (early stopping per fold left a conv net at 50 steps). An episode holds at
    most a fold's training items: 128 drawn from 20 repeat each ~6 times, at 6x the cost (ORL's
    5 faces at 112x92 ran for over 18 minutes).
    """
    n_train = math.ceil(len(items.labels) * (CV_FOLDS - 1) / CV_FOLDS)
    batch = max(
        min(config.batch_size, max(2 * n_classes(items.labels), n_train)), 2 * (config.classes_per_batch or 0)
    )
    steps = max(25, math.ceil(25 * n_train / batch))
    return dataclasses.replace(
        config, monitor=MONITOR, batch_size=batch, steps_per_epoch=min(config.steps_per_epoch, steps)
    )


def train_pairs_cross_validated(
    catalog: Items, pairs: Pairs, *, tower: str, settings_in: dict[str, Any], config: TrainConfig
) -> SiameseModel:
    """`train_pairs` for few labelled pairs (see the module docstring): `config.monitor` chooses
    the epoch count (0 = the start state) by its mean over the folds' held-out pairs."""
    plan = PairFolds(catalog, pairs, config)
    chosen = cross_validate(
        plan, build(tower, catalog, settings_in), lambda: build_baseline(tower, catalog, settings_in), config
    )
    threshold = plan.threshold(chosen.held_out, chosen.built.metric, config.threshold_criterion)
    reason = f"{len(pairs)} labelled pairs: too few to show on held-out pairs that a head helps"
    head, summary = untrained_head(chosen.built.dim, head_cos_scale(chosen.history, config), reason)
    return finish(
        chosen.built, head, config, threshold, summary, chosen.history, chosen.selection,
        {"pairs": {"train": len(pairs), "validation": 0, "cross_validated": len(pairs)}},
    )  # fmt: skip
