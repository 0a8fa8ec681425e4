"""Searcher and re-ranking against numpy brute force and hand-built cases."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from simsearch.errors import ConfigError
from simsearch.index.faiss_index import FaissIndex, IndexConfig
from simsearch.search import CrossScorer, Query
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


# ---- Searcher.run(Query): the one way in ----------------------------------------------------------


def brute_range(xb: np.ndarray, xq: np.ndarray, radius: float) -> list[np.ndarray]:
    d = np.sqrt(((xq[:, None, :] - xb[None, :, :]) ** 2).sum(-1))
    return [np.flatnonzero(row <= radius)[np.argsort(row[row <= radius], kind="stable")] for row in d]


RUNS = {
    "k": (Query(k=7), False),
    "k-ids": (Query(k=7), True),
    "k-ids-with-self": (Query(k=7, exclude_self=False), True),
    "radius": (Query(radius=1.0), False),
    "radius-ids": (Query(radius=1.0), True),
    "radius-ids-with-self": (Query(radius=1.0, exclude_self=False), True),
}


@pytest.mark.parametrize("query,by_ids", RUNS.values(), ids=RUNS.keys())
def test_run_equals_brute_force(
    data: tuple[np.ndarray, np.ndarray], searcher: Searcher, query: Query, by_ids: bool
) -> None:
    xb, ids = data
    rows = [4, 11, 250]
    xq = xb[rows] + (0 if by_ids else 0.05)
    hits = searcher.run(query, ids=list(ids[rows])) if by_ids else searcher.run(query, vectors=xq)
    d = np.sqrt(((xq[:, None, :] - xb[None, :, :]) ** 2).sum(-1))
    for q, row in enumerate(hits):
        if query.radius is None:
            order = np.argsort(d[q], kind="stable")
        else:
            order = brute_range(xb, xq[q : q + 1], query.radius)[0]
        if by_ids and query.exclude_self:
            order = order[order != rows[q]]
        if query.radius is None:
            order = order[: query.k]
        assert [h.id for h in row] == ids[order].tolist()
        np.testing.assert_allclose([h.distance for h in row], d[q, order], rtol=1e-4, atol=1e-5)
        assert [h.metadata["row"] for h in row] == order.tolist()


def test_run_rerank_by_the_head_equals_brute_force(
    data: tuple[np.ndarray, np.ndarray], searcher: Searcher
) -> None:
    xb, ids = data
    xq = xb[:3]
    hits = searcher.run(Query(k=4, rerank=9), vectors=xq)
    _, order = brute_force(xb, xq, 9)
    for row, candidates in zip(hits, order, strict=True):
        expected = candidates[np.argsort(-xb[candidates, 0], kind="stable")][:4]
        assert [h.id for h in row] == ids[expected].tolist()
    # A range search re-ranked by the head re-scores every hit within the radius.
    within = searcher.run(Query(radius=1.0, rerank=1), vectors=xq)
    for row, found in zip(within, brute_range(xb, xq, 1.0), strict=True):
        expected = found[np.argsort(-xb[found, 0], kind="stable")]
        assert [h.id for h in row] == ids[expected].tolist() and all(h.score is not None for h in row)


def shared_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def fake_cross(calls: list[dict[str, Any]]) -> CrossScorer:
    """A stand-in cross-encoder (SYNTHETIC): texts are the rows' `word`, and a pair scores the
    length of the common prefix of its two texts, plus its distance when one is given."""

    def texts(rows: Any) -> list[str]:
        return [str(w) for w in rows["word"]] if isinstance(rows, dict) else [str(r) for r in rows]

    def score(left: Any, right: Any, distances: Any) -> np.ndarray:
        calls.append({"left": list(left), "right": list(right), "distances": distances})
        common = [shared_prefix(a, b) for a, b in zip(left, right, strict=True)]
        return np.asarray(common, np.float32) + (
            0 if distances is None else np.asarray(distances, np.float32)
        )

    return CrossScorer(texts=texts, score=score)


@pytest.fixture(scope="module")
def worded(data: tuple[np.ndarray, np.ndarray]) -> FaissIndex:
    xb, ids = data
    metadata = [{"word": f"w{i % 7}{i}"} for i in range(len(xb))]
    return FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, ids, metadata)


@pytest.mark.parametrize("fusion", [False, True], ids=["cross", "cross+fusion"])
@pytest.mark.parametrize("by_ids", [False, True], ids=["items", "ids"])
def test_run_rerank_by_the_cross_encoder_equals_brute_force(
    data: tuple[np.ndarray, np.ndarray], worded: FaissIndex, fusion: bool, by_ids: bool
) -> None:
    xb, ids = data
    calls: list[dict[str, Any]] = []
    searcher = Searcher(worded, cross=fake_cross(calls))
    rows, depth, k = [3, 40], 12, 5
    query = Query(k=k, rerank=depth, reranker="cross", fusion=fusion)
    words = [f"w{r % 7}{r}" for r in rows]
    if by_ids:
        hits = searcher.run(query, ids=list(ids[rows]))
    else:
        hits = searcher.run(query, vectors=xb[rows], items=words)
    assert len(calls) == 1 and (calls[0]["distances"] is not None) == fusion  # all pairs in one call
    d = np.sqrt(((xb[rows][:, None, :] - xb[None, :, :]) ** 2).sum(-1))
    for q, row in enumerate(hits):
        order = np.argsort(d[q], kind="stable")
        order = order[order != rows[q]][:depth] if by_ids else order[:depth]
        scores = [shared_prefix(words[q], f"w{i % 7}{i}") + (d[q, i] if fusion else 0) for i in order]
        best = order[np.lexsort((d[q, order], -np.asarray(scores)))][:k]
        assert [h.id for h in row] == ids[best].tolist()
        np.testing.assert_allclose([h.score for h in row], np.sort(scores)[::-1][:k], rtol=1e-5, atol=1e-5)


def test_run_refuses_what_it_cannot_do(data: tuple[np.ndarray, np.ndarray], worded: FaissIndex) -> None:
    xb, ids = data
    cross = Searcher(worded, cross=fake_cross([]))
    with pytest.raises(ConfigError, match=r"vectors carry no text\). Received: vectors with rerank=5"):
        cross.run(Query(rerank=5, reranker="cross"), vectors=xb[:1])
    with pytest.raises(ConfigError, match="pairwise head"):
        cross.run(Query(rerank=5), vectors=xb[:1])
    with pytest.raises(ConfigError, match=r"Expected a cross-encoder re-ranker\. Received: none"):
        Searcher(worded).run(Query(rerank=5, reranker="cross"), ids=[ids[0]])
    with pytest.raises(
        ConfigError, match=r"Expected exactly one of vectors or ids\. Received: \['vectors', 'ids'\]"
    ):
        cross.run(Query(), vectors=xb[:1], ids=[ids[0]])
    with pytest.raises(ConfigError, match=r"Expected a simsearch\.search\.Query\. Received: dict"):
        cross.run({"k": 3}, vectors=xb[:1])  # type: ignore[arg-type]


def test_run_reads_the_index_under_the_read_lock(
    data: tuple[np.ndarray, np.ndarray], worded: FaissIndex
) -> None:
    _xb, ids = data
    held: list[bool] = []
    state = {"in": False}

    @contextlib.contextmanager
    def read_lock() -> Iterator[None]:
        state["in"] = True
        try:
            yield
        finally:
            state["in"] = False

    scorer = fake_cross([])

    def score(left: Any, right: Any, distances: Any) -> np.ndarray:
        held.append(state["in"])
        return scorer.score(left, right, distances)

    searcher = Searcher(worded, cross=CrossScorer(scorer.texts, score)).with_lock(read_lock)
    hits = searcher.run(Query(k=3, rerank=6, reranker="cross"), ids=[ids[5]])
    assert len(hits[0]) == 3 and held == [False]  # the cross-encoder runs outside the lock
