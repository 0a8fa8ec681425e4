"""exact_duplicates against a written-out numpy brute force on tiny embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.dedup import exact_duplicates
from simsearch.dedup.exact import top_k
from simsearch.errors import ConfigError


def brute_force(xb: np.ndarray, k: int, max_distance: float, metric: str) -> dict[tuple[int, int], float]:
    x = np.asarray(xb, np.float64)
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        dist = 1 - x @ x.T
    else:
        dist = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    out: dict[tuple[int, int], float] = {}
    for i, row in enumerate(dist):
        for j in np.argsort(row, kind="stable")[:k]:
            if row[j] <= max_distance:
                out[(min(i, j), max(i, j))] = float(row[j])
    return out


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("blocks", [(1, 1), (3, 5), (64, 64)], ids=["1x1", "3x5", "whole"])
def test_matches_brute_force_for_any_block_size(metric: str, blocks: tuple[int, int]) -> None:
    xb = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    threshold = 0.5 if metric == "cosine" else 2.5
    pairs = exact_duplicates(
        xb,
        np.arange(40),
        k=3,
        max_distance=threshold,
        metric=metric,
        query_chunk_size=blocks[0],
        corpus_chunk_size=blocks[1],
    )
    expected = brute_force(xb, 3, threshold, metric)
    assert len(expected) > 10
    assert sorted(zip(pairs.left_ids.tolist(), pairs.right_ids.tolist(), strict=True)) == sorted(expected)
    np.testing.assert_allclose(
        pairs.distances, [expected[p] for p in zip(pairs.left_ids, pairs.right_ids, strict=True)], atol=1e-5
    )


def test_query_ids_and_string_ids() -> None:
    xb = np.array([[1, 0], [0, 1], [1, 0.01], [0.01, 1]], np.float32)
    pairs = exact_duplicates(xb, ["p", "q", "r", "s"], k=1, max_distance=0.01, query_ids=["r"])
    assert list(zip(pairs.left_ids, pairs.right_ids, strict=True)) == [("p", "r")]
    none = exact_duplicates(xb, ["p", "q", "r", "s"], k=1, query_ids=[])
    assert len(none) == 0 and none.left_ids.dtype == object


def test_bad_metric() -> None:
    with pytest.raises(ConfigError, match=r"Expected metric in \('cosine', 'l2'\)\. Received: metric='ip'"):
        exact_duplicates(np.ones((2, 2)), [0, 1], metric="ip")


def test_top_k_within_a_threshold_equals_the_full_partition() -> None:
    dist = np.random.default_rng(1).random((50, 300)).astype(np.float32)
    sparse_d, sparse_c = top_k(dist, 4, max_distance=0.02)  # few entries: the sorted path
    full_d, full_c = top_k(dist, 4)
    for row in range(50):
        want = {(c, d) for c, d in zip(full_c[row], full_d[row], strict=True) if d <= 0.02}
        got = {(c, d) for c, d in zip(sparse_c[row], sparse_d[row], strict=True) if np.isfinite(d)}
        assert got == want
