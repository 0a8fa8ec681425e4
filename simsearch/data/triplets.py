"""Triplets and class-balanced P×K batches for triplet and prototypical training."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from simsearch.data._sampling import ClassMembers, check_count, other_classes
from simsearch.errors import DataError

__all__ = ["class_balanced_batches", "make_triplets"]


def make_triplets(
    labels: npt.ArrayLike, n: int, *, seed: int = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Draw random (anchor, positive, negative) triplets of labelled items.

    The anchor's class is uniform among classes with 2+ items; the positive is another item of it;
    the negative's class is uniform among the other classes. Label -1 is ignored.

    Args:
        labels: `(n_items,)` int class of each item, -1 where unlabelled.
        n: number of triplets.
        seed: seed of `np.random.default_rng`.

    Returns:
        `(anchor, positive, negative)`, each `(n,) int64` positions into `labels`.

    Raises:
        DataError: no class has 2 items, or fewer than 2 classes.
    """
    check_count("n", n, 1)
    members = ClassMembers.from_labels(labels)
    rich = np.flatnonzero(members.counts >= 2)
    if rich.size == 0 or len(members) < 2:
        raise DataError(
            "Expected at least 2 classes, one with 2+ items. "
            f"Received: classes={len(members)}, with 2+ items={rich.size}"
        )
    rng = np.random.default_rng(seed)
    anchor_class = rich[rng.integers(rich.size, size=n)]
    anchor, positive = members.draw_two(rng, anchor_class)
    negative = members.draw(rng, other_classes(rng, anchor_class, len(members)))
    return anchor, positive, negative


def class_balanced_batches(
    labels: npt.ArrayLike, *, p: int, k: int, n_batches: int, seed: int = 0
) -> Iterator[npt.NDArray[np.int64]]:
    """Yield batches of `p` different classes × `k` items each, for online mining and episodes.

    Classes are drawn without replacement within a batch; items of a class are drawn without
    replacement unless the class has fewer than `k` items. When `k >= 2`, classes with a single
    item are skipped, since they offer no positive.

    Args:
        labels: `(n,)` int class of each item, -1 where unlabelled.
        p: classes per batch.
        k: items per class.
        n_batches: number of batches to yield.
        seed: seed of `np.random.default_rng`.

    Yields:
        `(p * k,) int64` positions into `labels`, class by class: `batch.reshape(p, k)` has one
        class per row.

    Raises:
        DataError: fewer than `p` classes have `min(k, 2)` items.

    Example:
        >>> for batch in class_balanced_batches(items.labels, p=8, k=4, n_batches=100):
        ...     x, y = items.content(batch), items.labels[batch]
    """
    check_count("p", p, 1)
    check_count("k", k, 1)
    check_count("n_batches", n_batches, 1)
    members = ClassMembers.from_labels(labels)
    eligible = np.flatnonzero(members.counts >= min(k, 2))
    if eligible.size < p:
        raise DataError(
            f"Expected at least p={p} classes with {min(k, 2)}+ items. "
            f"Received: classes={eligible.size}"
        )
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        chosen = rng.choice(eligible, size=p, replace=False)
        yield np.concatenate([_draw_k(members.members(slot), k, rng) for slot in chosen])


def _draw_k(pool: npt.NDArray[np.int64], k: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    return rng.choice(pool, size=k, replace=pool.size < k).astype(np.int64)
