"""Leave-one-out retrieval against a direct O(n^2) loop."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.errors import ConfigError, DataError
from simsearch.evaluation.retrieval import retrieval_metrics


def _brute_force(embeddings, labels, ks, metric):
    """Rank every other item for each query, one query at a time, and average the metrics."""
    x = embeddings.astype(np.float64)
    recalls = {k: [] for k in ks}
    precision_at_1, average_precisions = [], []
    k_big = max(ks)
    for i in range(len(x)):
        others = np.array([j for j in range(len(x)) if j != i])
        n_relevant = int((labels[others] == labels[i]).sum())
        if n_relevant == 0:
            continue
        if metric == "cosine":
            scores = [x[i] @ x[j] / np.linalg.norm(x[i]) / np.linalg.norm(x[j]) for j in others]
        else:
            scores = [-np.linalg.norm(x[i] - x[j]) for j in others]
        ranked = others[np.argsort(scores)[::-1]]
        relevant = labels[ranked] == labels[i]
        for k in ks:
            recalls[k].append(relevant[:k].any())
        precision_at_1.append(relevant[0])
        hits, total = 0, 0.0
        for rank, is_relevant in enumerate(relevant[:k_big], start=1):
            if is_relevant:
                hits += 1
                total += hits / rank
        average_precisions.append(total / min(k_big, n_relevant))
    expected = {f"recall@{k}": np.mean(recalls[k]) for k in ks}
    expected["precision@1"] = np.mean(precision_at_1)
    expected[f"map@{k_big}"] = np.mean(average_precisions)
    expected["n_queries"] = len(precision_at_1)
    expected["n_skipped"] = len(x) - len(precision_at_1)
    return expected


def _overlapping_clusters(seed: int = 0):
    """Noisy clusters of 1 to 9 items (singletons included), so every metric is strictly < 1."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 10, size=25)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    centers = rng.normal(size=(len(sizes), 8))
    embeddings = centers[labels] + 0.9 * rng.normal(size=(len(labels), 8))
    return embeddings.astype(np.float32), labels


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize(
    ("ks", "chunk_size"),
    [((1, 5, 10), 1024), ((1, 3, 20), 7), ((2,), 1)],
    ids=["default", "chunked", "single_k"],
)
def test_matches_brute_force(metric, ks, chunk_size):
    embeddings, labels = _overlapping_clusters()
    got = retrieval_metrics(embeddings, labels, ks=ks, metric=metric, chunk_size=chunk_size)
    expected = _brute_force(embeddings, labels, ks, metric)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    assert 0.2 < got["precision@1"] < 0.95  # the case is neither trivial nor hopeless


def test_perfect_clusters():
    labels = np.repeat(np.arange(10), 4)
    embeddings = np.eye(10, dtype=np.float32)[labels] + 0.01
    got = retrieval_metrics(embeddings, labels, ks=(1, 3, 10))
    assert got == {
        "recall@1": 1.0, "recall@3": 1.0, "recall@10": 1.0, "precision@1": 1.0, "map@10": 1.0,
        "n_queries": 40, "n_skipped": 0,
    }  # fmt: skip


def test_k_beyond_the_set_means_every_other_item():
    # Points 0, 1, 10, 11 on a line. The match of 0 and 11 comes 3rd of 3, that of 1 and 10 2nd.
    embeddings = np.array([[0, 0], [1, 0], [10, 0], [11, 0]], dtype=np.float32)
    labels = np.array([0, 1, 1, 0])
    got = retrieval_metrics(embeddings, labels, ks=(1, 50), metric="l2")
    assert (got["recall@1"], got["recall@50"]) == (0.0, 1.0)
    assert got["map@50"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 2 + 1 / 3) / 4)


def test_singletons_are_skipped_and_unlabelled_items_left_out():
    embeddings = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    labels = np.array([0, 0, 1, 2, 2, 2, -1])
    got = retrieval_metrics(embeddings, labels, ks=(1,))
    expected = _brute_force(embeddings[:6], labels[:6], (1,), "cosine")
    assert (got["n_queries"], got["n_skipped"]) == (5, 1)
    assert got == pytest.approx(expected)


def test_all_singletons_is_a_data_error():
    with pytest.raises(DataError, match="at least 2 items"):
        retrieval_metrics(np.eye(3, dtype=np.float32), np.arange(3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ks": ()}, "ks"),
        ({"ks": (0, 5)}, "ks"),
        ({"metric": "dot"}, "metric"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
    ids=["no_ks", "zero_k", "metric", "chunk_size"],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        retrieval_metrics(np.eye(4, dtype=np.float32), np.array([0, 0, 1, 1]), **kwargs)


@pytest.mark.parametrize(
    ("embeddings", "labels", "match"),
    [
        (np.zeros((4, 2)), np.zeros(3, int), "labels.shape=.3,."),
        (np.full((2, 2), np.nan), np.zeros(2, int), "finite"),
        (np.zeros((2, 2)), np.zeros(2), "integer labels"),
    ],
    ids=["length", "nan", "float_labels"],
)
def test_bad_data(embeddings, labels, match):
    with pytest.raises(DataError, match=match):
        retrieval_metrics(embeddings, labels)


def _brute_pair_recall(emb, left, right, pool, k, both_ways):
    x = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    relevant: dict[int, set[int]] = {}
    sides = [(left, right), (right, left)] if both_ways else [(left, right)]
    for qs, rs in sides:
        for q, r in zip(qs, rs, strict=False):
            relevant.setdefault(int(q), set()).add(int(r))
    found = []
    for q, rel in sorted(relevant.items()):
        cands = [c for c in sorted(set(pool)) if c != q]
        ranked = sorted(cands, key=lambda c: -float(x[q] @ x[c]))[:k]
        found.append(bool(rel & set(ranked)))
    return float(np.mean(found))


@pytest.mark.parametrize("both_ways", [True, False], ids=["one-catalog", "b-against-a"])
def test_pair_retrieval_matches_brute_force(both_ways: bool) -> None:
    from simsearch.evaluation.retrieval import pair_retrieval_metrics

    rng = np.random.default_rng(3)
    emb = rng.normal(size=(60, 8)).astype(np.float32)
    left, right = rng.choice(30, 20, replace=False), 30 + rng.choice(30, 20, replace=False)
    emb[right] = emb[left] + rng.normal(scale=0.8, size=(20, 8))
    pool = np.arange(60) if both_ways else np.arange(30)
    queries, answers = (left, right) if both_ways else (right, left)
    got = pair_retrieval_metrics(emb, queries, answers, pool, ks=(1, 3), both_ways=both_ways)
    for k in (1, 3):
        assert got[f"recall@{k}"] == pytest.approx(
            _brute_pair_recall(emb, queries, answers, pool, k, both_ways)
        )
    assert got["n_queries"] == (40 if both_ways else 20)
    assert 0.0 < got["recall@1"] < 1.0  # the noise makes some queries miss: the check can fail


def test_pair_retrieval_perfect_when_partners_coincide() -> None:
    from simsearch.evaluation.retrieval import pair_retrieval_metrics

    emb = np.eye(6, dtype=np.float32)
    emb[3:] = emb[:3]
    got = pair_retrieval_metrics(emb, [0, 1, 2], [3, 4, 5], np.arange(6), ks=(1,))
    assert got == {"recall@1": 1.0, "mrr@1": 1.0, "n_queries": 6}
