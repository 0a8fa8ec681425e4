"""PairFilter: its checks, and find_duplicates with it against a NumPy brute-force oracle."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest

from simsearch.dedup import EmbeddingScorer, PairFilter, PairSide, find_duplicates
from simsearch.errors import ConfigError
from simsearch.index import FaissIndex, IndexConfig

from .conftest import planted

HEAD = EmbeddingScorer(np.minimum)


class TwoArgumentScorer:
    """A model's own `score_pairs(u, v)`: not a PairScorer until wrapped in EmbeddingScorer."""

    def score_pairs(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.ones(len(u))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 0}, r"Expected k to be an integer >= 1\. Received: k=0"),
        ({"k": 2.5}, "Expected k"),
        ({"k": True}, "Received: k=True"),
        ({"max_distance": -0.1}, r"Expected 0 <= max_distance <= 2 .*Received: max_distance=-0.1"),
        ({"max_distance": float("nan")}, "Received: max_distance=nan"),
        ({"max_distance": "0.1"}, "Received: max_distance='0.1'"),
        ({"min_score": 1.5, "scorer": HEAD}, r"Expected 0 <= min_score <= 1"),
        ({"min_score": -0.1, "scorer": HEAD}, "Received: min_score=-0.1"),
        ({"min_score": 0.5}, r"Expected a scorer .* Received: scorer=None"),
        ({"scorer": "head"}, r"Expected scorer as a PairScorer.*Received: str"),
        ({"scorer": np.minimum}, r"Expected scorer as a PairScorer.*Received: ufunc"),
        (
            {"scorer": TwoArgumentScorer()},
            r"Expected scorer\.score_pairs to take \(left, right, distances\).*Received: "
            r"TwoArgumentScorer\.score_pairs\(u",
        ),
    ],
    ids=[
        "k0",
        "k-float",
        "k-bool",
        "negative-distance",
        "nan-distance",
        "distance-str",
        "score-over-1",
        "negative-score",
        "score-without-scorer",
        "scorer-str",
        "scorer-bare-function",
        "scorer-two-arguments",
    ],
)
def test_bad_field_is_a_clear_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PairFilter(**kwargs)


def test_fields_are_normalised_and_frozen() -> None:
    f = PairFilter(k=np.int64(3), max_distance=np.float32(0.5), min_score=1, scorer=HEAD)
    assert (type(f.k), type(f.max_distance), type(f.min_score)) == (int, float, float)
    assert (f.k, f.max_distance, f.min_score, f.scored) == (3, 0.5, 1.0, True)
    assert PairFilter() == PairFilter(k=10) and not PairFilter().scored
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.k = 4  # type: ignore[misc]


def test_max_distance_over_2_is_checked_against_the_metric() -> None:
    loose = PairFilter(max_distance=2.5)  # fine for l2
    assert loose.check_metric("l2") is loose
    with pytest.raises(ConfigError, match=r"Expected 0 <= max_distance <= 2 \(cosine"):
        loose.check_metric("cosine")


def test_pair_side_fetches_rows_once_and_only_when_read() -> None:
    calls = []

    def fetch() -> np.ndarray:
        calls.append(1)
        return np.ones((2, 3), np.float32)

    side = PairSide(np.array([4, 5]), fetch)
    assert len(side) == 2 and calls == []
    assert side.rows.shape == (2, 3) and side.rows.shape == (2, 3)
    assert calls == [1]


# ---- find_duplicates against brute force ------------------------------------------------------


def skewed(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """P(same) that depends on the orientation: left is the earlier catalogue item."""
    return 1.0 / (1.0 + np.exp(-40.0 * (u[:, 0] - v[:, 0]) - 1.0))


def brute_force(
    xb: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], f: PairFilter
) -> list[tuple[int, int, float, float | None]]:
    """Every item's k nearest others by exact cosine distance (float64), within max_distance,
    once per pair (earlier item left), scored as (left, right) and kept at min_score."""
    xn = xb.astype(np.float64) / np.linalg.norm(xb.astype(np.float64), axis=1, keepdims=True)
    dist = 1.0 - xn @ xn.T
    np.fill_diagonal(dist, np.inf)
    pairs: dict[tuple[int, int], float] = {}
    for i in range(len(xb)):
        for j in np.argsort(dist[i], kind="stable")[: f.k]:
            if f.max_distance is None or dist[i, j] <= f.max_distance:
                pairs[(min(i, j), max(i, j))] = dist[i, j]
    out = []
    for (a, b), d in sorted(pairs.items()):
        score = None if f.scorer is None else float(skewed(xb[[a]], xb[[b]])[0])
        if f.min_score is None or (score is not None and score >= f.min_score):
            out.append((int(ids[a]), int(ids[b]), d, score))
    return out


@pytest.mark.parametrize(
    ("k", "max_distance", "min_score"),
    [(3, None, None), (5, 0.01, None), (5, 0.05, 0.6), (8, None, 0.9)],
    ids=["k-only", "distance", "distance-and-score", "score-only"],
)
def test_find_duplicates_with_a_filter_equals_brute_force(
    k: int, max_distance: float | None, min_score: float | None
) -> None:
    xb = planted(400, 16, 40, seed=3)
    ids = np.random.default_rng(3).permutation(len(xb)).astype(np.int64) * 3 + 7  # not sorted
    index = FaissIndex(IndexConfig(metric="cosine", factory="Flat")).build(xb, ids)
    scorer = None if min_score is None else EmbeddingScorer(skewed)
    f = PairFilter(k=k, max_distance=max_distance, min_score=min_score, scorer=scorer)
    want = brute_force(xb, ids, f)
    got = find_duplicates(index, f, chunk_size=64)
    assert 0 < len(want) < len(xb) * k
    assert list(zip(got.left_ids.tolist(), got.right_ids.tolist(), strict=True)) == [w[:2] for w in want]
    np.testing.assert_allclose(got.distances, [w[2] for w in want], atol=1e-5)
    if scorer is None:
        assert got.scores is None
    else:
        assert got.scores is not None and (got.scores >= min_score).all()
        np.testing.assert_allclose(got.scores, [w[3] for w in want], rtol=1e-5)


def test_where_restricts_the_self_join_and_the_match_to_the_allowed_items() -> None:
    from simsearch.dedup import match_catalogues
    from simsearch.errors import FilterError

    rng = np.random.default_rng(5)
    xb = rng.normal(size=(300, 8)).astype(np.float32)
    meta = [{"shop": "abc"[i % 3]} for i in range(300)]
    index = FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, np.arange(300), meta)
    pairs = find_duplicates(index, PairFilter(k=2, where={"shop": "b"}), progress=False)
    allowed = np.arange(1, 300, 3)
    d = np.sqrt(((xb[allowed, None] - xb[None, allowed]) ** 2).sum(-1)) + np.diag(np.full(100, np.inf))
    nearest = np.argsort(d, axis=1, kind="stable")[:, :2]
    want = {frozenset((int(allowed[q]), int(allowed[j]))) for q in range(100) for j in nearest[q]}
    assert {frozenset(p) for p in zip(pairs.left_ids.tolist(), pairs.right_ids.tolist(), strict=True)} == want
    matches = match_catalogues(index, xb[:5] + 0.01, ["q0", "q1", "q2", "q3", "q4"],
                               PairFilter(k=3, where={"shop": {"$ne": "b"}}), progress=False)  # fmt: skip
    others = np.flatnonzero(np.arange(300) % 3 != 1)
    to_others = np.sqrt((((xb[:5] + 0.01)[:, None] - xb[None, others]) ** 2).sum(-1))
    top = others[np.argsort(to_others, axis=1, kind="stable")[:, :3]]
    want_matches = [(int(top[q, j]), f"q{q}") for q in range(5) for j in range(3)]
    assert list(zip(matches.left_ids.tolist(), matches.right_ids.tolist(), strict=True)) == want_matches
    with pytest.raises(FilterError, match="Received: 'shoop'"):
        find_duplicates(index, PairFilter(where={"shoop": "b"}), progress=False)
