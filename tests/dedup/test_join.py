"""find_duplicates and match_catalogues against the exact all-pairs oracle and hand-built cases."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from simsearch.dedup import (
    DuplicatePairs,
    EmbeddingScorer,
    IdScorer,
    PairFilter,
    exact_duplicates,
    find_duplicates,
    match_catalogues,
)
from simsearch.errors import ConfigError, DataError, UnknownIdError
from simsearch.index import FaissIndex, IndexConfig, SearchParams

from .conftest import N_BASE, N_COPIES, THRESHOLD


def pair_set(pairs: DuplicatePairs) -> set[tuple[object, object]]:
    return set(zip(pairs.left_ids.tolist(), pairs.right_ids.tolist(), strict=True))


def flat(xb: npt.ArrayLike, ids: npt.ArrayLike, metric: str = "cosine") -> FaissIndex:
    return FaissIndex(IndexConfig(metric=metric, factory="Flat")).build(xb, ids)


@pytest.fixture(scope="module")
def index(catalogue: npt.NDArray[np.float32]) -> FaissIndex:
    return flat(catalogue, np.arange(len(catalogue)))


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_flat_self_join_equals_exact_all_pairs(catalogue: npt.NDArray[np.float32], metric: str) -> None:
    ids = np.arange(len(catalogue))
    threshold = THRESHOLD if metric == "cosine" else 1.0
    pairs = find_duplicates(flat(catalogue, ids, metric), PairFilter(k=5, max_distance=threshold))
    oracle = exact_duplicates(catalogue, ids, k=5, max_distance=threshold, metric=metric)
    assert pair_set(pairs) == pair_set(oracle)
    np.testing.assert_allclose(pairs.distances, oracle.distances, rtol=1e-3, atol=1e-5)
    planted = {(i, N_BASE + i) for i in range(N_COPIES)}
    assert planted <= pair_set(pairs)


def test_ivf_self_join_recalls_the_exact_pairs(catalogue: npt.NDArray[np.float32]) -> None:
    ids = np.arange(len(catalogue))
    index = FaissIndex(IndexConfig(factory="IVF64,Flat", train_size=3000)).build(catalogue, ids)
    pairs = find_duplicates(index, PairFilter(k=10, max_distance=THRESHOLD), params=SearchParams(nprobe=8))
    oracle = pair_set(exact_duplicates(catalogue, ids, k=10, max_distance=THRESHOLD))
    assert len(oracle) > N_COPIES  # planted copies and natural near neighbours
    assert len(pair_set(pairs) & oracle) / len(oracle) >= 0.99
    xn = catalogue / np.linalg.norm(catalogue, axis=1, keepdims=True)
    true = 1 - (xn[pairs.left_ids] * xn[pairs.right_ids]).sum(1)
    np.testing.assert_allclose(pairs.distances, true, atol=1e-5)  # IVF,Flat: exact distances
    assert (pairs.distances <= THRESHOLD).all()


def test_pairs_are_ordered_once_and_never_self(index: FaissIndex) -> None:
    pairs = find_duplicates(index, PairFilter(k=10, max_distance=THRESHOLD))
    left, right = pairs.left_ids, pairs.right_ids
    assert (left < right).all()  # int ids 0.. follow catalogue order here
    assert len(pair_set(pairs)) == len(pairs)
    assert np.array_equal(np.lexsort((right, left)), np.arange(len(pairs)))


@pytest.mark.parametrize("chunk_size", [1, 7, 3150], ids=["1", "7", "n"])
def test_results_do_not_depend_on_chunk_size(index: FaissIndex, chunk_size: int) -> None:
    reference = find_duplicates(index, PairFilter(k=4, max_distance=THRESHOLD), chunk_size=1000)
    pairs = find_duplicates(index, PairFilter(k=4, max_distance=THRESHOLD), chunk_size=chunk_size)
    assert pairs.left_ids.tolist() == reference.left_ids.tolist()
    assert pairs.right_ids.tolist() == reference.right_ids.tolist()
    np.testing.assert_allclose(pairs.distances, reference.distances, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "ids", [np.arange(100, 106), np.array(["b", "a", "x-1", "x-2", "q", "z"], object)], ids=["int", "str"]
)
def test_exact_duplicate_vectors_are_found_without_self_pairs(ids: npt.NDArray) -> None:
    rng = np.random.default_rng(0)
    one = rng.standard_normal(8).astype(np.float32)
    xb = np.vstack([np.tile(one, (4, 1)), rng.standard_normal((2, 8)).astype(np.float32)])
    pairs = find_duplicates(flat(xb, ids), PairFilter(k=3, max_distance=1e-5))
    first = ids.tolist()[:4]
    assert pair_set(pairs) == {(first[i], first[j]) for i in range(4) for j in range(i + 1, 4)}
    assert pairs.left_ids.dtype == ids.dtype


def test_crowd_of_exact_duplicates_never_yields_self_pairs() -> None:
    xb = np.ones((30, 4), np.float32)  # the item itself need not come back first, nor at all
    pairs = find_duplicates(flat(xb, np.arange(30)), PairFilter(k=3))
    assert (pairs.left_ids != pairs.right_ids).all()
    assert set(pairs.left_ids.tolist()) | set(pairs.right_ids.tolist()) == set(range(30))


def test_string_ids_keep_catalogue_order() -> None:
    xb = np.array([[1, 0], [0, 1], [1, 0.001]], np.float32)
    pairs = find_duplicates(flat(xb, ["zz", "mm", "aa"]), PairFilter(k=1, max_distance=0.01))
    assert pair_set(pairs) == {("zz", "aa")}  # left = earlier in the index, not alphabetical


def test_one_item_and_no_match_give_empty_results() -> None:
    one = find_duplicates(flat(np.ones((1, 4)), ["only"]), PairFilter(k=5))
    assert len(one) == 0 and one.left_ids.dtype == object
    far = find_duplicates(flat(np.eye(4), np.arange(4)), PairFilter(k=3, max_distance=0.5))
    assert len(far) == 0 and far.left_ids.dtype == np.int64


def test_deleted_items_never_appear(catalogue: npt.NDArray[np.float32]) -> None:
    index = flat(catalogue, np.arange(len(catalogue)))
    index.delete(np.arange(N_BASE, N_BASE + 10))
    pairs = find_duplicates(index, PairFilter(k=5, max_distance=THRESHOLD))
    assert not {*range(N_BASE, N_BASE + 10)} & {*pairs.left_ids.tolist(), *pairs.right_ids.tolist()}


def test_score_pairs_filters_and_scores_left_to_right(index: FaissIndex) -> None:
    def score_pairs(u: np.ndarray, v: np.ndarray) -> np.ndarray:  # asymmetric on purpose
        return 1.0 / (1.0 + np.exp(u[:, 0] - v[:, 0]))

    candidates = find_duplicates(index, PairFilter(k=5, max_distance=THRESHOLD))
    head = EmbeddingScorer(score_pairs)
    scored = find_duplicates(index, PairFilter(k=5, max_distance=THRESHOLD, min_score=0.5, scorer=head))
    expected = score_pairs(index.get(candidates.left_ids), index.get(candidates.right_ids))
    keep = expected >= 0.5
    assert 0 < keep.sum() < len(candidates)
    assert pair_set(scored) == pair_set(candidates.select(keep))
    assert scored.scores is not None
    np.testing.assert_allclose(scored.scores, expected[keep], rtol=1e-6)


def test_score_pairs_without_min_score_scores_every_pair(index: FaissIndex) -> None:
    head = EmbeddingScorer(lambda u, v: np.full(len(u), 0.3))
    pairs = find_duplicates(index, PairFilter(k=2, max_distance=THRESHOLD, scorer=head))
    assert pairs.scores is not None and len(pairs) and np.all(pairs.scores == np.float32(0.3))


def test_score_ids_gets_the_pairs_by_id_with_their_distances(catalogue: npt.NDArray[np.float32]) -> None:
    ids = np.array([f"item{i}" for i in range(len(catalogue))], dtype=object)
    index = flat(catalogue, ids)
    seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def score_ids(left: np.ndarray, right: np.ndarray, distances: np.ndarray) -> np.ndarray:
        seen.append((left, right, distances))  # a scorer that reads the items, e.g. their text
        return np.array([float(int(a[4:]) % 2 == 0) for a in left])  # keep pairs with an even left id

    candidates = find_duplicates(index, PairFilter(k=5, max_distance=THRESHOLD), chunk_size=500)
    cross = IdScorer(score_ids)
    scored = find_duplicates(
        index, PairFilter(k=5, max_distance=THRESHOLD, min_score=0.5, scorer=cross), chunk_size=500
    )
    keep = np.array([int(a[4:]) % 2 == 0 for a in candidates.left_ids])
    assert 0 < keep.sum() < len(candidates)
    assert pair_set(scored) == pair_set(candidates.select(keep))
    assert scored.scores is not None and np.all(scored.scores == 1.0)
    called = {(a, b): d for left, right, dist in seen for a, b, d in zip(left, right, dist, strict=True)}
    for a, b, d, _ in candidates:  # every candidate scored once, as (left, right, its distance)
        assert called[(a, b)] == pytest.approx(d, abs=1e-6)
    assert len(called) == len(candidates) and len(seen) == len(range(0, len(catalogue), 500))


def test_match_catalogues_score_ids_gets_a_then_b(
    index: FaissIndex, catalogue: npt.NDArray[np.float32]
) -> None:
    xq = catalogue[:5] + 0.001
    b_ids = ["b0", "b1", "b2", "b3", "b4"]

    def score_ids(left: np.ndarray, right: np.ndarray, distances: np.ndarray) -> np.ndarray:
        assert right.tolist() == b_ids and np.all(distances < 0.01)
        return np.where(left == 3, 0.9, 0.1)  # B's 4th row is A's item 3

    matches = match_catalogues(index, xq, b_ids, PairFilter(k=1, min_score=0.5, scorer=IdScorer(score_ids)))
    assert list(matches) == [(3, "b3", pytest.approx(0.0, abs=1e-3), pytest.approx(0.9))]


def test_query_ids_join_new_items_against_all(catalogue: npt.NDArray[np.float32]) -> None:
    ids = np.arange(len(catalogue))
    index = flat(catalogue, ids)
    new = ids[-40:]  # planted copies: their pairs with the originals, and with each other
    pairs = find_duplicates(index, PairFilter(k=5, max_distance=THRESHOLD), query_ids=new)
    oracle = exact_duplicates(catalogue, ids, k=5, max_distance=THRESHOLD, query_ids=new)
    assert pair_set(pairs) == pair_set(oracle)
    assert all(a in new or b in new for a, b in pair_set(pairs))


def test_two_new_items_paired_with_each_other_are_reported_once() -> None:
    xb = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1.001]], np.float32)
    index = flat(xb, ["a", "b", "n1", "n2"])
    pairs = find_duplicates(index, PairFilter(k=2, max_distance=0.01), query_ids=["n2", "n1"])
    assert list(pairs) == [("n1", "n2", pytest.approx(0.0, abs=1e-5), None)]


def test_match_catalogues_against_brute_force(catalogue: npt.NDArray[np.float32]) -> None:
    a_ids = np.arange(len(catalogue))
    rng = np.random.default_rng(5)
    rows = rng.choice(N_BASE, 50, replace=False)
    xq = catalogue[rows] * 1.01 + 0.001  # B: slightly changed copies, with ids that also exist in A
    index = flat(catalogue, a_ids)
    matches = match_catalogues(index, xq, np.arange(50), PairFilter(k=3, max_distance=THRESHOLD))
    xn = catalogue / np.linalg.norm(catalogue, axis=1, keepdims=True)
    qn = xq / np.linalg.norm(xq, axis=1, keepdims=True)
    dist = 1 - qn @ xn.T
    nearest = np.argsort(dist, axis=1)[:, :3]
    expected = {(int(a), b) for b in range(50) for a in nearest[b] if dist[b, a] <= THRESHOLD}
    assert pair_set(matches) == expected
    assert {(int(a), b) for b, a in enumerate(rows)} <= pair_set(matches)  # source found, ids not excluded
    assert np.array_equal(np.argsort(matches.right_ids, kind="stable"), np.arange(len(matches)))


def test_match_catalogues_scores_a_then_b(index: FaissIndex, catalogue: npt.NDArray[np.float32]) -> None:
    xq = catalogue[:5] + 0.001
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def score_pairs(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        seen.append((u, v))
        return np.ones(len(u))

    head = EmbeddingScorer(score_pairs)
    matches = match_catalogues(index, xq, ["b0", "b1", "b2", "b3", "b4"], PairFilter(k=1, scorer=head))
    u, v = seen[0]
    np.testing.assert_array_equal(u, index.get(matches.left_ids))
    np.testing.assert_array_equal(v, xq)
    assert matches.right_ids.tolist() == ["b0", "b1", "b2", "b3", "b4"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_distance": 2.5}, ConfigError, "Received: max_distance=2.5"),
        ({"chunk_size": 0}, ConfigError, "Expected chunk_size"),
        (
            {"query_ids": [1, 99_999]},
            UnknownIdError,
            r"Expected query_ids of items in the index\. Received: 1 unknown, first \[99999\]",
        ),
        ({"query_ids": ["a"]}, UnknownIdError, "Received: 1 unknown"),
        ({"pair_filter": {"k": 2}}, ConfigError, "Expected pair_filter as a PairFilter"),
    ],
    ids=["distance-over-2", "chunk0", "unknown-int-id", "str-id-in-int-index", "filter-not-a-pair-filter"],
)
def test_bad_input_is_a_clear_error(index: FaissIndex, kwargs: dict, error: type, match: str) -> None:
    """What only the join can check (the filter's own checks are in test_pair_filter.py)."""
    if "max_distance" in kwargs:  # at most 2 for cosine: known once the index is
        kwargs = {"pair_filter": PairFilter(max_distance=kwargs["max_distance"])}
    with pytest.raises(error, match=match):
        find_duplicates(index, **kwargs)


@pytest.mark.parametrize(
    "score_pairs", [lambda u, v: np.ones(3), lambda u, v: np.full(len(u), 2.0)], ids=["shape", "range"]
)
def test_score_pairs_returning_other_than_probabilities_is_an_error(index: FaissIndex, score_pairs) -> None:
    with pytest.raises(DataError, match="Expected score_pairs to return"):
        find_duplicates(index, PairFilter(k=2, max_distance=THRESHOLD, scorer=EmbeddingScorer(score_pairs)))


def test_l2_distance_may_exceed_2() -> None:
    xb = np.array([[0, 0], [3, 0]], np.float32)
    pairs = find_duplicates(flat(xb, [0, 1], "l2"), PairFilter(k=1, max_distance=5.0))
    assert pairs.distances.tolist() == [3.0]


def test_match_catalogues_bad_shapes(index: FaissIndex) -> None:
    with pytest.raises(DataError, match="Expected xq of shape"):
        match_catalogues(index, np.ones((2, 5)), [1, 2])
    with pytest.raises(DataError, match="Expected one id per row"):
        match_catalogues(index, np.ones((2, 32)), [1])
