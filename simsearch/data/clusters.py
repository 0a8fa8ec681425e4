"""Match clusters of labelled pairs and the batches a supervised contrastive loss learns from.

R-SupCon (Peeters & Bizer 2022) trains on the clusters of matching offers, the transitive
closure of the training matches: every offer of a cluster is a positive of every other, and the
rest of the batch are its negatives. `cluster_batches` draws half of each batch's clusters at
random and gives each a cluster it was labelled a non-match with (the pair file's negatives,
mined by blocking, so hard) or one whose records are its records' nearest neighbours by TF-IDF
word cosine (`mined_negatives`, the neighbours an index would return), which the loss must then
push apart in the same batch.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from simsearch.data._sampling import check_count
from simsearch.data.pairs import Pairs
from simsearch.errors import DataError

__all__ = ["cluster_batches", "linked_roots", "match_clusters", "mined_negatives", "negative_clusters"]


def linked_roots(n: int, left: npt.ArrayLike, right: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """For each of `n` items, the smallest index of the items the links `left[i]-right[i]` join
    it to, transitively (union-find); an item in no link is its own root.

    Example:
    >>> linked_roots(5, [3, 1], [4, 2]).tolist()
    [0, 1, 1, 3, 3]
    """
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    for a, b in zip(np.asarray(left).tolist(), np.asarray(right).tolist(), strict=True):
        ra, rb = find(int(a)), find(int(b))
        parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def match_clusters(n: int, pairs: Pairs) -> npt.NDArray[np.int64]:
    """Cluster id of each of `n` items: the transitive closure of the positive pairs, an item
    in negative pairs only its own cluster, an item in no pair -1. Ids count from 0 in the order
    of each cluster's first item.

    Example:
    >>> match_clusters(5, Pairs(np.array([0, 1, 3]), np.array([1, 2, 4]), np.array([1, 1, 0]))).tolist()
    [0, 0, 0, 1, 2]
    """
    roots = linked_roots(n, pairs.left[pairs.same == 1], pairs.right[pairs.same == 1])
    paired = np.zeros(n, bool)
    paired[pairs.left] = paired[pairs.right] = True
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


def mined_negatives(
    texts: Sequence[str], labels: npt.NDArray[np.int64], k: int = 3, max_df: float = 0.05
) -> dict[int, list[int]]:
    """For each cluster, the other clusters holding its records' `k` nearest records by TF-IDF
    word cosine (words in more than `max_df` of the records left out: they tell nothing apart).

    Example:
    >>> texts = ["sony tv 40", "sony tv 40 black", "sony tv 42", "apple ipad", "apple ipad case"]
    >>> mined_negatives(texts, np.array([0, 0, 1, 2, 3]), k=1, max_df=1.0)
    {0: [1], 1: [0], 2: [3], 3: [2]}
    """
    rows = [i for i in range(len(texts)) if labels[i] >= 0]
    words = {i: Counter(texts[i].split()) for i in rows}
    df = Counter(w for i in rows for w in words[i])
    limit = max(1.0, max_df * len(rows))
    idf = {w: math.log((1 + len(rows)) / (1 + c)) + 1.0 for w, c in df.items() if c <= limit}
    vectors = {i: {w: (1 + math.log(c)) * idf[w] for w, c in words[i].items() if w in idf} for i in rows}
    norms = {i: math.sqrt(sum(v * v for v in vec.values())) or 1.0 for i, vec in vectors.items()}
    postings: dict[str, list[int]] = {}
    for i in rows:
        for w in vectors[i]:
            postings.setdefault(w, []).append(i)
    out: dict[int, set[int]] = {}
    for i in rows:
        scores: dict[int, float] = {}
        for w, weight in vectors[i].items():
            for j in postings[w]:
                if labels[j] != labels[i]:
                    scores[j] = scores.get(j, 0.0) + weight * vectors[j][w] / (norms[i] * norms[j])
        nearest = sorted(scores, key=lambda j: (-scores[j], j))[:k]
        out.setdefault(int(labels[i]), set()).update(int(labels[j]) for j in nearest)
    return {c: sorted(v) for c, v in sorted(out.items()) if v}


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
