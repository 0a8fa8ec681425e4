"""What training needs of the labelled data, checked before TensorFlow loads.

`simsearch train` reads the data, runs these checks and only then imports the model code, so a
data set too small to learn from is refused in a second with a message naming what is missing,
not after minutes of training.
"""

from __future__ import annotations

import numpy as np

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.errors import DataError

__all__ = ["CV_FOLDS", "SMALL_PAIR_SET", "check_items_trainable", "check_pairs_trainable"]

SMALL_PAIR_SET = 500  # fewer labelled pairs and a 20% split leaves too few to early-stop on
CV_FOLDS = 5  # folds of the cross-validation that replaces that split


def check_items_trainable(items: Items) -> None:
    """Refuse labelled items a tower cannot learn from: at least 2 classes, one of them with at
    least 2 items (a positive pair to learn from and an item to hold out)."""
    labels = items.labels[items.labels >= 0]
    classes, counts = np.unique(labels, return_counts=True)
    largest = int(counts.max(initial=0))
    if len(classes) < 2 or largest < 2:
        raise DataError(
            "Expected labelled items of at least 2 classes, one of them with 2 items or more. "
            f"Received: {len(labels)} labelled items in {len(classes)} classes (largest {largest})"
        )


def check_pairs_trainable(pairs: Pairs, *, held_out: bool = False) -> None:
    """Refuse pair sets a tower cannot learn from and be checked on: both labels present (or a
    graded score). Without held-out pairs (`held_out=False`), a small set is cross-validated in
    `CV_FOLDS` folds, so each label needs at least that many pairs."""
    need = 2 if held_out or len(pairs) >= SMALL_PAIR_SET else CV_FOLDS
    if pairs.score is not None:
        if len(pairs) < 2 * need:
            raise DataError(f"Expected at least {2 * need} graded pairs. Received: {len(pairs)}")
        return
    positives, negatives = int((pairs.same == 1).sum()), int((pairs.same == 0).sum())
    if positives < need or negatives < need:
        raise DataError(
            f"Expected at least {need} matching (label 1) and {need} non-matching (label 0) "
            f"labelled pairs. Received: {positives} matching, {negatives} non-matching"
        )
