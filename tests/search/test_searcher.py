"""Searcher and re-ranking against numpy brute force and hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.errors import ConfigError
from simsearch.index.faiss_index import FaissIndex, IndexConfig
from simsearch.search.hits import Hit
from simsearch.search.rerank import rerank
from simsearch.search.searcher import Searcher


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(20, 16))
    xb = (centres[rng.integers(0, 20, 500)] + 0.3 * rng.normal(size=(500, 16))).astype(np.float32)
    ids = np.array([f"item-{i}" for i in range(500)])
    return xb, ids


@pytest.fixture(scope="module")
def searcher(data: tuple[np.ndarray, np.ndarray]) -> Searcher:
    xb, ids = data
    metadata = [{"row": i} for i in range(len(xb))]
    index = FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, ids, metadata)
    # A stand-in head (SYNTHETIC): prefers items whose first coordinate is largest.
    return Searcher(index, score_pairs=lambda u, v: 1 / (1 + np.exp(-v[:, 0])))


def brute_force(xb: np.ndarray, xq: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((xq[:, None, :] - xb[None, :, :]) ** 2).sum(-1))
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, 1), order


def test_search_equals_brute_force(data: tuple[np.ndarray, np.ndarray], searcher: Searcher) -> None:
    xb, ids = data
    xq = xb[:7] + 0.05
    hits = searcher.search(xq, k=5)
    d, order = brute_force(xb, xq, 5)
    assert [[h.id for h in row] for row in hits] == ids[order].tolist()
    np.testing.assert_allclose([[h.distance for h in row] for row in hits], d, rtol=1e-4, atol=1e-5)
    assert hits[0][0].metadata == {"row": int(order[0, 0])}
    assert all(h.score is None for row in hits for h in row)


def test_search_ids_excludes_the_query_item(data: tuple[np.ndarray, np.ndarray], searcher: Searcher) -> None:
    xb, ids = data
    hits = searcher.search_ids(["item-3", "item-9"], k=4)
    _d, order = brute_force(xb, xb[[3, 9]], 5)
    assert [[h.id for h in row] for row in hits] == [ids[order[0, 1:]].tolist(), ids[order[1, 1:]].tolist()]
    with_self = searcher.search_ids(["item-3"], k=1, exclude_self=False)
    assert with_self[0][0].id == "item-3" and with_self[0][0].distance == pytest.approx(0.0, abs=1e-6)


def test_rerank_orders_the_top_depth_by_head_score(
    data: tuple[np.ndarray, np.ndarray], searcher: Searcher
) -> None:
    xb, ids = data
    xq = xb[:3]
    depth, k = 10, 6
    hits = searcher.search(xq, k=k, rerank=depth)
    _, order = brute_force(xb, xq, depth)
    for row, candidates in zip(hits, order, strict=True):
        expected = candidates[np.argsort(-xb[candidates, 0], kind="stable")][:k]
        assert [h.id for h in row] == ids[expected].tolist()
        scores = [h.score for h in row]
        assert scores == sorted(scores, reverse=True)
        np.testing.assert_allclose(scores, 1 / (1 + np.exp(-xb[expected, 0])), rtol=1e-6)


def test_rerank_keeps_distance_order_behind_the_depth() -> None:
    hits = [[Hit("a", 0.1), Hit("b", 0.2), Hit("c", 0.3), Hit("d", 0.4)]]
    vectors = [np.array([[0.0], [1.0], [2.0], [3.0]], np.float32)]
    out = rerank(np.zeros((1, 1), np.float32), hits, vectors, lambda u, v: v[:, 0], depth=2, k=4)
    assert [h.id for h in out[0]] == ["b", "a", "c", "d"]
    assert [h.score for h in out[0]] == [1.0, 0.0, None, None]


def test_range_search_equals_brute_force(data: tuple[np.ndarray, np.ndarray], searcher: Searcher) -> None:
    xb, ids = data
    xq = xb[:2]
    d = np.sqrt(((xq[:, None, :] - xb[None, :, :]) ** 2).sum(-1))
    rows = searcher.range_search(xq, radius=1.0)
    for row, dist in zip(rows, d, strict=True):
        assert {h.id for h in row} == set(ids[dist <= 1.0].tolist())
        assert [h.distance for h in row] == sorted(h.distance for h in row)


@pytest.mark.parametrize(
    "k,rerank_depth", [(0, 0), (-1, 0), (10, -1), (100_000, 0)], ids=["k0", "kneg", "rerankneg", "khuge"]
)
def test_bad_k_and_depth(
    searcher: Searcher, data: tuple[np.ndarray, np.ndarray], k: int, rerank_depth: int
) -> None:
    with pytest.raises(ConfigError, match="Expected"):
        searcher.search(data[0][:1], k=k, rerank=rerank_depth)


def test_rerank_without_a_head_is_refused(data: tuple[np.ndarray, np.ndarray]) -> None:
    xb, ids = data
    plain = Searcher(FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, ids))
    with pytest.raises(ConfigError, match="pairwise head"):
        plain.search(xb[:1], k=3, rerank=5)


def test_the_search_package_exports_its_api_without_tensorflow() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from simsearch.search import Hit, Searcher, rerank; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
