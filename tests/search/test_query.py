"""Query: settings validated once ("Expected .... Received: ..."), equal searches equal queries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simsearch.errors import ConfigError, DataError, FilterError
from simsearch.index import SearchParams
from simsearch.search import MAX_K, Query

BAD = {
    "k-zero": ({"k": 0}, ConfigError, "Expected 1 <= k <= 10000. Received: k=0"),
    "k-negative": ({"k": -3}, ConfigError, "k=-3"),
    "k-huge": ({"k": MAX_K + 1}, ConfigError, "k=10001"),
    "k-float": ({"k": 2.0}, ConfigError, "k=2.0"),
    "k-bool": ({"k": True}, ConfigError, "k=True"),
    "k-text": ({"k": "5"}, ConfigError, "k='5'"),
    "rerank-negative": ({"rerank": -1}, ConfigError, "Expected 0 <= rerank <= 10000. Received: rerank=-1"),
    "rerank-huge": ({"rerank": MAX_K + 1}, ConfigError, "rerank=10001"),
    "radius-negative": ({"radius": -0.1}, DataError, "Expected a radius from 0 to"),
    "radius-nan": ({"radius": float("nan")}, DataError, "radius=nan"),
    "radius-text": ({"radius": "0.5"}, DataError, "radius='0.5'"),
    "reranker-unknown": ({"rerank": 5, "reranker": "bm25"}, ConfigError, "reranker='bm25'"),
    "fusion-with-head": (
        {"rerank": 5, "reranker": "head", "fusion": True},
        ConfigError,
        "Expected fusion with reranker='cross'",
    ),
    "params-dict": (
        {"params": {"nprobe": 4}},
        ConfigError,
        "Expected params as SearchParams. Received: dict",
    ),
    "filter-callable": (
        {"filter": lambda ids, metadata: ids},
        ConfigError,
        "Expected filter as a JSON where (a dict), a Where or a hashable object with mask(fields)",
    ),
    "filter-malformed": ({"filter": {"shop": {"$in": "a"}}}, FilterError, "Expected a list for $in"),
}


@pytest.mark.parametrize("settings,error,message", BAD.values(), ids=BAD.keys())
def test_bad_settings_are_refused(settings: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match="Expected") as info:
        Query(**settings)
    assert message in str(info.value) and "Received:" in str(info.value)


def test_good_settings_are_kept() -> None:
    query = Query(k=np.int64(5), radius=1, rerank=20, reranker="cross", fusion=True, exclude_self=False)
    assert (query.k, query.radius, query.rerank, query.reranker, query.fusion) == (5, 1.0, 20, "cross", True)
    assert type(query.k) is int and type(query.radius) is float
    assert query.mode == "cross" and Query().mode == "none" and Query(rerank=3).mode == "head"


def test_equal_searches_are_equal_hashable_queries() -> None:
    # rerank=0 re-ranks nothing: the re-ranker named with it makes no other query.
    assert Query(k=5, reranker="cross") == Query(k=5) == Query(k=5, rerank=0, reranker="head")
    assert Query(k=5, rerank=0, reranker="cross", fusion=True) == Query(k=5)
    assert Query(k=5, params=SearchParams(nprobe=8)) == Query(k=5, params=SearchParams(nprobe=8))
    groups = {Query(k=5), Query(k=5), Query(k=5, rerank=3), Query(k=6), Query(k=5, params=SearchParams())}
    assert len(groups) == 4
    assert Query(k=5, rerank=3) != Query(k=5, rerank=3, reranker="cross")


def test_a_query_is_frozen() -> None:
    query = Query()
    with pytest.raises(AttributeError):
        query.k = 3  # type: ignore[misc]
