"""Match clusters of labelled pairs and the supervised contrastive batches drawn from them,
against hand-built pair sets."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.data.clusters import cluster_batches, match_clusters, mined_negatives, negative_clusters
from simsearch.data.pairs import Pairs
from simsearch.errors import DataError

# Items 0-1-2 match (0=1, 1=2: one cluster by transitivity), 3=4 match, 5 and 6 appear only in
# non-matches, 7 in no pair.
PAIRS = Pairs(
    left=np.array([0, 1, 3, 0, 5, 2, 6]),
    right=np.array([1, 2, 4, 3, 4, 6, 0]),
    same=np.array([1, 1, 1, 0, 0, 0, 0]),
)


def test_clusters_are_the_transitive_closure_of_the_matches() -> None:
    assert match_clusters(8, PAIRS).tolist() == [0, 0, 0, 1, 1, 2, 3, -1]


def test_negative_clusters_link_both_ways() -> None:
    labels = match_clusters(8, PAIRS)
    assert negative_clusters(labels, PAIRS) == {0: [1, 3], 1: [0, 2], 2: [1], 3: [0]}


def test_batches_hold_clusters_with_their_labelled_non_matches() -> None:
    labels = match_clusters(8, PAIRS)
    negatives = negative_clusters(labels, PAIRS)
    batches = list(cluster_batches(labels, negatives, p=4, k=2, n_batches=50, seed=0))
    assert len(batches) == 50
    for batch in batches:
        assert batch.shape == (8,) and batch.dtype == np.int64
        clusters = labels[batch].reshape(4, 2)
        assert np.all(clusters[:, 0] == clusters[:, 1])  # k items of one cluster per row
        assert len(set(clusters[:, 0])) == 4  # p different clusters
        assert -1 not in clusters
        # The first two rows: a cluster with a match and one of its labelled non-matches.
        assert clusters[0, 0] in (0, 1)
        assert clusters[1, 0] in negatives[int(clusters[0, 0])]


def test_batches_reproduce_with_a_seed() -> None:
    labels = match_clusters(8, PAIRS)
    first = [b.tolist() for b in cluster_batches(labels, {}, p=3, n_batches=5, seed=3)]
    again = [b.tolist() for b in cluster_batches(labels, {}, p=3, n_batches=5, seed=3)]
    assert first == again


def test_too_few_clusters_are_refused() -> None:
    labels = match_clusters(8, PAIRS)
    with pytest.raises(DataError, match=r"Expected at least p=8 clusters.*Received: clusters=4"):
        next(cluster_batches(labels, {}, p=8, n_batches=1))
    unmatched = np.array([0, 1, 2, 3])
    with pytest.raises(DataError, match="with matches=0"):
        next(cluster_batches(unmatched, {}, p=2, n_batches=1))


def test_mined_negatives_are_the_nearest_other_clusters_by_tf_idf() -> None:
    # Hand-built: two Sony TVs of different sizes, two Apple products, one kettle.
    texts = ["sony tv 40", "sony tv 40 black", "sony tv 42", "apple ipad", "apple ipad case", "kettle steel"]
    labels = np.array([0, 0, 1, 2, 3, 4])
    mined = mined_negatives(texts, labels, k=1, max_df=1.0)
    assert mined == {0: [1], 1: [0], 2: [3], 3: [2]}  # the kettle shares no word: no neighbour
    # Words in more than max_df of the records are left out: "sony" and "tv" then tell nothing,
    # and the TVs have no neighbour left but by their sizes (none shared).
    assert 0 not in mined_negatives(texts, labels, k=1, max_df=0.34)
    # An unclustered record (-1) is never mined: the TVs of cluster 0 are then left without one.
    assert mined_negatives(texts, np.array([0, 0, -1, 2, 3, 4]), k=1, max_df=1.0) == {2: [3], 3: [2]}
