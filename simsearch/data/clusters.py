"""Match clusters of labelled pairs and the batches a supervised contrastive loss learns from.

R-SupCon (Peeters & Bizer 2022) trains on the clusters of matching offers, the transitive
closure of the training matches: every offer of a cluster is a positive of every other, and the
rest of the batch are its negatives. `cluster_batches` draws half of each batch's clusters at
random and gives each a cluster it was labelled a non-match with (the pair file's negatives,
mined by blocking, so hard), which the loss must then push apart in the same batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from simsearch.data._sampling import check_count
from simsearch.data.pairs import Pairs
from simsearch.errors import DataError

__all__ = ["cluster_batches", "match_clusters", "negative_clusters"]


def match_clusters(n: int, pairs: Pairs) -> npt.NDArray[np.int64]:
    """Cluster id of each of `n` items: the transitive closure of the positive pairs, an item
    in negative pairs only its own cluster, an item in no pair -1. Ids count from 0 in the order
    of each cluster's first item.

    Example:
    >>> match_clusters(5, Pairs(np.array([0, 1, 3]), np.array([1, 2, 4]), np.array([1, 1, 0])))
    array([ 0,  0,  0,  1,  2])
    """
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    for a, b in zip(pairs.left[pairs.same == 1], pairs.right[pairs.same == 1], strict=True):
        ra, rb = find(int(a)), find(int(b))
        parent[max(ra, rb)] = min(ra, rb)
    paired = np.zeros(n, bool)
    paired[pairs.left] = paired[pairs.right] = True
    roots = np.array([find(i) for i in range(n)])
    _, first, labels = np.unique(roots, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return np.where(paired, rank[labels], -1).astype(np.int64)


def negative_clusters(labels: npt.NDArray[np.int64], pairs: Pairs) -> dict[int, list[int]]:
    """For each cluster, the clusters it has a labelled non-match with (sorted, no repeats)."""
    out: dict[int, set[int]] = {}
    for a, b in zip(pairs.left[pairs.same == 0], pairs.right[pairs.same == 0], strict=True):
        ca, cb = int(labels[a]), int(labels[b])
        if ca >= 0 and cb >= 0 and ca != cb:
            out.setdefault(ca, set()).add(cb)
            out.setdefault(cb, set()).add(ca)
    return {c: sorted(v) for c, v in out.items()}


def cluster_batches(
    labels: npt.NDArray[np.int64],
    negatives: dict[int, list[int]],
    *,
    p: int,
    k: int = 2,
    n_batches: int,
    seed: int = 0,
) -> Iterator[npt.NDArray[np.int64]]:
    """Yield batches of `p` different clusters × `k` items (positions into `labels`).

    Half of the clusters are drawn among those with 2+ items; each brings one of its
    `negatives` not yet in the batch (else a random cluster); the rest are random clusters.
    A cluster of fewer than `k` items repeats them (dropout makes the copies differ).

    Raises:
        DataError: fewer than `p` clusters, or none with 2+ items.
    """
    check_count("p", p, 2)
    check_count("k", k, 1)
    check_count("n_batches", n_batches, 1)
    ids = np.unique(labels[labels >= 0])
    members = {int(c): np.flatnonzero(labels == c) for c in ids}
    linked = np.array([c for c in ids if len(members[int(c)]) >= 2])
    if len(ids) < p or len(linked) == 0:
        raise DataError(
            f"Expected at least p={p} clusters, one with 2+ matching items. "
            f"Received: clusters={len(ids)}, with matches={len(linked)}"
        )
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        chosen: list[int] = []
        for anchor in rng.permutation(linked)[: p // 2]:
            if int(anchor) in chosen:  # already drawn as an earlier anchor's non-match
                continue
            chosen.append(int(anchor))
            hard = [c for c in negatives.get(int(anchor), []) if c not in chosen]
            if hard and len(chosen) < p:
                chosen.append(int(rng.choice(hard)))
        rest = [int(c) for c in rng.permutation(ids) if int(c) not in chosen][: p - len(chosen)]
        chosen.extend(rest)
        yield np.concatenate(
            [rng.choice(members[c], size=k, replace=len(members[c]) < k) for c in chosen]
        ).astype(np.int64)
