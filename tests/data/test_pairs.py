"""Tests of pair sampling and class-disjoint splits."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.data import Items, Pairs, make_pairs, split_by_class, split_by_group
from simsearch.errors import ConfigError, DataError

# 6 classes of uneven size (one singleton), plus unlabelled items.
LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, -1, 4, 4, 5, 5, 5, -1], dtype=np.int64)


def _check_every_pair(pairs: Pairs, labels: np.ndarray) -> None:
    assert pairs.left.dtype == np.int64
    assert pairs.right.dtype == np.int64
    assert pairs.same.dtype == np.int8
    assert np.all(pairs.left != pairs.right), "an item was paired with itself"
    left, right = labels[pairs.left], labels[pairs.right]
    assert np.all(left >= 0) and np.all(right >= 0), "an unlabelled item was paired"
    np.testing.assert_array_equal(pairs.same, (left == right).astype(np.int8))


@pytest.mark.parametrize(
    ("n_pairs", "fraction", "n_positive"),
    [(1000, 0.5, 500), (999, 0.5, 500), (400, 0.25, 100), (50, 0.0, 0), (50, 1.0, 50)],
    ids=["half", "odd", "quarter", "negatives-only", "positives-only"],
)
def test_make_pairs_balance_and_correctness(n_pairs: int, fraction: float, n_positive: int) -> None:
    pairs = make_pairs(LABELS, n_pairs, positive_fraction=fraction, seed=3)
    assert len(pairs) == n_pairs
    assert int(pairs.same.sum()) == n_positive
    _check_every_pair(pairs, LABELS)


def test_make_pairs_reaches_every_class_and_mixes_order() -> None:
    pairs = make_pairs(LABELS, 2000, seed=0)
    used = np.unique(LABELS[np.concatenate([pairs.left, pairs.right])])
    assert used.tolist() == [0, 1, 2, 3, 4, 5]
    positive_classes = np.unique(LABELS[pairs.left[pairs.same == 1]])
    assert 3 not in positive_classes.tolist()  # the singleton class has no positive
    assert 0 < pairs.same[:100].sum() < 100  # positives and negatives are shuffled together


def test_make_pairs_is_seeded() -> None:
    first, again = make_pairs(LABELS, 300, seed=7), make_pairs(LABELS, 300, seed=7)
    other = make_pairs(LABELS, 300, seed=8)
    for name in ("left", "right", "same"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.left, other.left)


def test_make_pairs_errors() -> None:
    with pytest.raises(DataError, match="at least 2 items"):
        make_pairs([0, 1, 2, -1], 10)
    with pytest.raises(DataError, match=r"Expected at least 2 classes\. Received: classes=1"):
        make_pairs([4, 4, 4, -1], 10)
    with pytest.raises(ConfigError, match="positive_fraction"):
        make_pairs(LABELS, 10, positive_fraction=1.5)
    with pytest.raises(ConfigError, match="n_pairs"):
        make_pairs(LABELS, 0)
    with pytest.raises(DataError, match="integer dtype"):
        make_pairs(np.array([0.0, 1.0]), 10)


def test_pairs_validation() -> None:
    pairs = Pairs(left=[0, 1], right=[1, 2], same=[1, 0])
    assert len(pairs) == 2
    assert pairs.same.dtype == np.int8
    with pytest.raises(DataError, match="one length"):
        Pairs(left=[0, 1], right=[1], same=[1, 0])
    with pytest.raises(DataError, match=r"same in \{0, 1\}"):
        Pairs(left=[0], right=[1], same=[2])
    with pytest.raises(DataError, match="non-negative"):
        Pairs(left=[-1], right=[1], same=[0])
    with pytest.raises(DataError, match=r"score of shape \(2,\)"):
        Pairs(left=[0, 1], right=[1, 2], same=[1, 0], score=[4.5])
    with pytest.raises(DataError, match="finite"):
        Pairs(left=[0, 1], right=[1, 2], same=[1, 0], score=[4.5, np.nan])


def test_pairs_scores_follow_take_and_shift() -> None:
    pairs = Pairs(left=[0, 1, 2], right=[1, 2, 0], same=[1, 0, 0], score=[4.5, 1.0, 2.5])
    assert pairs.score is not None and pairs.score.dtype == np.float32
    part = pairs.take([2, 0])
    assert (part.left.tolist(), part.same.tolist()) == ([2, 0], [0, 1])
    assert part.targets().tolist() == [2.5, 4.5]
    moved = pairs.shifted(10)
    assert moved.right.tolist() == [11, 12, 10] and moved.score is pairs.score
    # Without scores the graded target is the label.
    plain = Pairs(left=[0, 1], right=[1, 2], same=[1, 0])
    assert plain.targets().tolist() == [1.0, 0.0] and plain.take([1]).score is None


def _items(labels: np.ndarray, groups: list[str] | None = None) -> Items:
    return Items(
        ids=np.arange(len(labels)),
        labels=labels,
        classes=tuple(str(c) for c in range(labels.max() + 1)),
        images=np.zeros((len(labels), 2, 2, 1), np.float32),
        groups=None if groups is None else np.array(groups),
    )


def test_split_by_class_is_disjoint_and_complete() -> None:
    labels = np.repeat(np.arange(10), 3)
    train, val = split_by_class(_items(labels), val_fraction=0.2, seed=1)
    assert len(np.unique(val.labels)) == 2
    assert set(train.labels.tolist()).isdisjoint(val.labels.tolist())
    assert sorted(train.ids.tolist() + val.ids.tolist()) == list(range(30))
    assert train.classes == val.classes
    again_train, _ = split_by_class(_items(labels), val_fraction=0.2, seed=1)
    np.testing.assert_array_equal(train.ids, again_train.ids)


def test_split_by_class_keeps_unlabelled_in_train() -> None:
    train, val = split_by_class(_items(LABELS), val_fraction=0.5, seed=0)
    assert np.all(val.labels >= 0)
    assert int((train.labels == -1).sum()) == 2
    with pytest.raises(DataError, match="at least 2 classes"):
        split_by_class(_items(np.array([0, 0, -1])))
    with pytest.raises(ConfigError, match="val_fraction"):
        split_by_class(_items(LABELS), val_fraction=1.0)


def test_split_by_group_keeps_groups_apart() -> None:
    labels = np.arange(12)
    groups = ["Greek"] * 4 + ["Latin"] * 4 + ["Hebrew"] * 4
    train, val = split_by_group(_items(labels, groups), val_fraction=0.3, seed=0)
    assert train.groups is not None and val.groups is not None
    assert len(set(val.groups.tolist())) == 1
    assert set(train.groups.tolist()).isdisjoint(val.groups.tolist())
    assert len(train) + len(val) == 12
    with pytest.raises(DataError, match="groups=None"):
        split_by_group(_items(labels))
