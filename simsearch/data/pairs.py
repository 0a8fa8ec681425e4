"""Pairs of items for siamese training, and class-disjoint splits.

A pair is two row positions and a flag `same` (1 = the same class or item, 0 = different). The flag
is named for what it means, so no loss has to guess whether 0 means similar (as in Hadsell et al.'s
contrastive loss) or dissimilar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simsearch.data._sampling import ClassMembers, check_count, other_classes
from simsearch.data.items import Items
from simsearch.errors import ConfigError, DataError

__all__ = ["Pairs", "make_pairs", "split_by_class", "split_by_group", "split_within_classes"]


@dataclass(frozen=True)
class Pairs:
    """Labelled pairs of items, as row positions.

    Attributes:
        left: `(n,) int64` positions in the left items.
        right: `(n,) int64` positions in the right items (the same items unless two catalogues are
            matched, as in product matching).
        same: `(n,) int8`, 1 where both sides are the same class or item, else 0.
        score: `(n,) float32` graded similarity (higher = more alike, e.g. STS-B's 0-5), or
            None. The `"cosent"` loss ranks pairs by it; without it, by `same`.
    """

    left: npt.NDArray[np.int64]
    right: npt.NDArray[np.int64]
    same: npt.NDArray[np.int8]
    score: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        for name in ("left", "right", "same"):
            values = np.asarray(getattr(self, name))
            integer = values.size == 0 or np.issubdtype(values.dtype, np.integer)
            if values.ndim != 1 or not integer:
                raise DataError(
                    f"Expected {name} of shape (n,) and an integer dtype. "
                    f"Received: {name}.shape={values.shape}, {name}.dtype={values.dtype}"
                )
            object.__setattr__(self, name, values.astype(np.int8 if name == "same" else np.int64))
        if not len(self.left) == len(self.right) == len(self.same):
            raise DataError(
                "Expected left, right and same of one length. Received: "
                f"left={len(self.left)}, right={len(self.right)}, same={len(self.same)}"
            )
        if np.any(self.left < 0) or np.any(self.right < 0):
            raise DataError("Expected non-negative positions. Received: a negative left or right")
        if not np.isin(self.same, (0, 1)).all():
            raise DataError(f"Expected same in {{0, 1}}. Received: values={np.unique(self.same)}")
        if self.score is not None:
            score = np.asarray(self.score, dtype=np.float32)
            if score.shape != self.same.shape or not np.isfinite(score).all():
                raise DataError(
                    f"Expected score of shape ({len(self.same)},) with finite values. "
                    f"Received: score.shape={score.shape}, finite={bool(np.isfinite(score).all())}"
                )
            object.__setattr__(self, "score", score)

    def __len__(self) -> int:
        return len(self.same)

    def take(self, rows: npt.ArrayLike) -> Pairs:
        """The pairs at `rows` (positions or a boolean mask), scores included."""
        rows = np.asarray(rows)
        score = None if self.score is None else self.score[rows]
        return Pairs(self.left[rows], self.right[rows], self.same[rows], score)

    def shifted(self, offset: int) -> Pairs:
        """The same pairs with `offset` added to `right` (a second catalogue stacked after the first)."""
        return Pairs(self.left, self.right + offset, self.same, self.score)

    def targets(self) -> npt.NDArray[np.float32]:
        """What a graded loss ranks: `score` when given, else `same` as 0.0 / 1.0."""
        return self.same.astype(np.float32) if self.score is None else self.score


def make_pairs(
    labels: npt.ArrayLike, n_pairs: int, *, positive_fraction: float = 0.5, seed: int = 0
) -> Pairs:
    """Draw balanced random pairs of labelled items.

    Positives take a class uniformly among those with 2+ items, then two different items of it;
    negatives take two different classes uniformly, then one item of each. Pairs are drawn with
    replacement, so a pair may repeat; an item is never paired with itself. Label -1 is ignored.

    Args:
        labels: `(n,)` int class of each item, -1 where unlabelled.
        n_pairs: number of pairs.
        positive_fraction: share of positives; `round(n_pairs * positive_fraction)` exactly.
        seed: seed of `np.random.default_rng`.

    Returns:
        `Pairs` into `labels`, positives and negatives shuffled together.

    Raises:
        DataError: positives are wanted and no class has 2 items, or negatives are wanted and
            there are fewer than 2 classes.

    Example:
        >>> pairs = make_pairs(items.labels, 10_000, seed=1)
        >>> float(pairs.same.mean())
        0.5
    """
    check_count("n_pairs", n_pairs, 1)
    if not 0.0 <= positive_fraction <= 1.0:
        raise ConfigError(
            f"Expected positive_fraction in [0, 1]. Received: positive_fraction={positive_fraction}"
        )
    members = ClassMembers.from_labels(labels)
    n_positive = round(n_pairs * positive_fraction)
    rng = np.random.default_rng(seed)
    left_pos, right_pos = _positives(members, n_positive, rng)
    left_neg, right_neg = _negatives(members, n_pairs - n_positive, rng)
    order = rng.permutation(n_pairs)
    same = np.repeat(np.array([1, 0], dtype=np.int8), [n_positive, n_pairs - n_positive])
    return Pairs(
        left=np.concatenate([left_pos, left_neg])[order],
        right=np.concatenate([right_pos, right_neg])[order],
        same=same[order],
    )


def _positives(
    members: ClassMembers, n: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    empty = np.empty(0, np.int64)
    if n == 0:
        return empty, empty
    rich = np.flatnonzero(members.counts >= 2)
    if rich.size == 0:
        raise DataError(
            "Expected a class with at least 2 items to draw positive pairs. "
            f"Received: classes={len(members)}, "
            f"largest={int(members.counts.max(initial=0))} item(s)"
        )
    return members.draw_two(rng, rich[rng.integers(rich.size, size=n)])


def _negatives(
    members: ClassMembers, n: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    empty = np.empty(0, np.int64)
    if n == 0:
        return empty, empty
    if len(members) < 2:
        raise DataError(f"Expected at least 2 classes. Received: classes={len(members)}")
    first = rng.integers(len(members), size=n)
    second = other_classes(rng, first, len(members))
    return members.draw(rng, first), members.draw(rng, second)


def split_by_class(
    items: Items, *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[Items, Items]:
    """Split items into train and validation sets whose classes do not overlap.

    `round(n_classes * val_fraction)` classes (at least 1, at most all but 1) go to validation;
    unlabelled items stay in train.

    Returns:
        `(train, val)`, both keeping the full `classes` tuple so labels stay comparable.
    """
    in_val = _held_out(items.labels.astype(str), items.labels >= 0, val_fraction, seed, "classes")
    return items.subset(~in_val), items.subset(in_val)


def split_within_classes(
    items: Items, *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[Items, Items]:
    """Hold out `val_fraction` of each class's items (at least one, never its last one), for
    data with too few classes to hold whole classes out: validation then asks what the use
    asks, new items of known classes searched against the others.

    Classes with a single item stay in train; unlabelled items too.

    Returns:
        `(train, val)`, both keeping the full `classes` tuple.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"Expected val_fraction in (0, 1). Received: val_fraction={val_fraction}")
    rng = np.random.default_rng(seed)
    in_val = np.zeros(len(items), bool)
    for label in np.unique(items.labels[items.labels >= 0]):
        rows = np.flatnonzero(items.labels == label)
        if len(rows) >= 2:
            n_val = min(len(rows) - 1, max(1, round(len(rows) * val_fraction)))
            in_val[rng.choice(rows, size=n_val, replace=False)] = True
    if not in_val.any():
        raise DataError(
            "Expected a class with at least 2 items to hold one out for validation. "
            f"Received: {len(np.unique(items.labels[items.labels >= 0]))} classes of 1 item each"
        )
    return items.subset(~in_val), items.subset(in_val)


def split_by_group(
    items: Items, *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[Items, Items]:
    """Split items into train and validation sets whose groups (Omniglot alphabets) do not overlap.

    Classes stay disjoint too when each class lies in one group, as in Omniglot.

    Returns:
        `(train, val)`, both keeping the full `classes` tuple.
    """
    if items.groups is None:
        raise DataError("Expected items with groups to split by group. Received: groups=None")
    in_val = _held_out(items.groups, np.ones(len(items), bool), val_fraction, seed, "groups")
    return items.subset(~in_val), items.subset(in_val)


def _held_out(
    keys: npt.NDArray[np.str_],
    eligible: npt.NDArray[np.bool_],
    fraction: float,
    seed: int,
    what: str,
) -> npt.NDArray[np.bool_]:
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"Expected val_fraction in (0, 1). Received: val_fraction={fraction}")
    present = np.unique(keys[eligible])
    if present.size < 2:
        raise DataError(f"Expected at least 2 {what} to split. Received: {what}={present.size}")
    n_val = min(present.size - 1, max(1, round(present.size * fraction)))
    chosen = np.random.default_rng(seed).choice(present, size=n_val, replace=False)
    return eligible & np.isin(keys, chosen)
