"""Tests of triplet sampling and class-balanced P×K batches."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.data import class_balanced_batches, make_triplets
from simsearch.errors import ConfigError, DataError

# class sizes 5, 3, 1, 4, 2 and two unlabelled items
LABELS = np.array([0] * 5 + [1] * 3 + [2] + [3] * 4 + [-1] * 2 + [4] * 2, dtype=np.int64)


def test_make_triplets_every_triplet_is_valid() -> None:
    anchor, positive, negative = make_triplets(LABELS, 2000, seed=0)
    for positions in (anchor, positive, negative):
        assert positions.dtype == np.int64
        assert positions.shape == (2000,)
    assert np.all(anchor != positive)
    np.testing.assert_array_equal(LABELS[anchor], LABELS[positive])
    assert np.all(LABELS[anchor] != LABELS[negative])
    assert np.all(LABELS[np.concatenate([anchor, negative])] >= 0)
    assert 2 not in LABELS[anchor].tolist()  # a singleton class cannot anchor
    assert 2 in LABELS[negative].tolist()  # but it can be a negative


def test_make_triplets_is_seeded_and_checks_classes() -> None:
    first, again = make_triplets(LABELS, 50, seed=4), make_triplets(LABELS, 50, seed=4)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(DataError, match="at least 2 classes"):
        make_triplets([0, 0, 0], 5)
    with pytest.raises(DataError, match="with 2\\+ items=0"):
        make_triplets([0, 1, 2], 5)


@pytest.mark.parametrize(("p", "k"), [(3, 2), (4, 3), (2, 5)], ids=["3x2", "4x3", "2x5"])
def test_class_balanced_batches_structure(p: int, k: int) -> None:
    batches = list(class_balanced_batches(LABELS, p=p, k=k, n_batches=30, seed=1))
    assert len(batches) == 30
    counts = np.bincount(LABELS[LABELS >= 0])
    for batch in batches:
        assert batch.dtype == np.int64
        assert batch.shape == (p * k,)
        grid = LABELS[batch].reshape(p, k)
        assert np.all(grid == grid[:, :1]), "a row mixes classes"
        assert len(np.unique(grid[:, 0])) == p, "a class repeats within a batch"
        assert 2 not in grid[:, 0].tolist(), "a singleton class was drawn with k >= 2"
        for row in batch.reshape(p, k):
            if counts[LABELS[row[0]]] >= k:
                assert len(np.unique(row)) == k, "items repeat in a class large enough"


def test_class_balanced_batches_samples_with_replacement_only_when_short() -> None:
    batches = list(class_balanced_batches(LABELS, p=5, k=1, n_batches=5, seed=0))
    assert all(sorted(LABELS[b].tolist()) == [0, 1, 2, 3, 4] for b in batches)
    batches = class_balanced_batches(LABELS, p=2, k=4, n_batches=40, seed=2)
    rows = np.concatenate([batch.reshape(2, 4) for batch in batches])
    short = rows[LABELS[rows[:, 0]] == 1]  # class 1 has 3 items: drawn with replacement
    full = rows[LABELS[rows[:, 0]] == 0]  # class 0 has 5 items: drawn without
    assert len(short) > 0 and len(full) > 0
    assert all(len(np.unique(row)) < 4 and set(LABELS[row]) == {1} for row in short)
    assert all(len(np.unique(row)) == 4 for row in full)


def test_class_balanced_batches_seeded_and_errors() -> None:
    first = list(class_balanced_batches(LABELS, p=2, k=2, n_batches=5, seed=9))
    again = list(class_balanced_batches(LABELS, p=2, k=2, n_batches=5, seed=9))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    with pytest.raises(
        DataError, match=r"at least p=5 classes with 2\+ items\. Received: classes=4"
    ):
        next(class_balanced_batches(LABELS, p=5, k=2, n_batches=1))
    with pytest.raises(ConfigError, match="k to be an int >= 1"):
        next(class_balanced_batches(LABELS, p=2, k=0, n_batches=1))
