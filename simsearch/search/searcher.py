"""`Searcher`: run a `Query` over a `FaissIndex` — the one place that acts on a query's settings.

Candidates come from the index (the top `k`, or everything within `radius`), then the query's
re-ranker re-scores the nearest of them: the pairwise head on the embeddings (a
`score_pairs(u, v) -> (n,)` callable), or a cross-encoder on the texts (a `CrossScorer`). It works
on callables, never on a Keras model, so it stays fast to import and to test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError
from simsearch.index.faiss_index import FaissIndex, SearchParams
from simsearch.search.cross import CrossScorer, cross_scores
from simsearch.search.hits import Hit
from simsearch.search.query import Query
from simsearch.search.rerank import ScoreHits, ScorePairs, rerank_by

__all__ = ["Searcher"]

_INF = float("inf")
_NONE = object()  # excludes no id


class Searcher:
    """Search a `FaissIndex` with `Query`s, re-ranking the nearest candidates.

    Args:
        index: the index to search.
        score_pairs: the pairwise head, `score_pairs(u, v) -> (n,)` P(same); needed for
            `reranker="head"`.
        cross: the cross-encoder, needed for `reranker="cross"`.
        read_lock: `read_lock()` -> a context manager held while the index is read (the server's
            shared lock); re-scoring runs outside it.

    Example:
    >>> searcher = Searcher(index, score_pairs=model.score_pairs)
    >>> hits = searcher.run(Query(k=5, rerank=50), vectors=model.encode(images))
    >>> hits[0][0].id, hits[0][0].distance, hits[0][0].score
    """

    def __init__(
        self,
        index: FaissIndex,
        score_pairs: ScorePairs | None = None,
        *,
        cross: CrossScorer | None = None,
        read_lock: Callable[[], AbstractContextManager[Any]] | None = None,
    ):
        self.index = index
        self.score_pairs = score_pairs
        self.cross = cross
        self.read_lock = read_lock

    def with_lock(self, read_lock: Callable[[], AbstractContextManager[Any]]) -> Searcher:
        """This searcher, holding `read_lock()` while it reads the index."""
        return Searcher(self.index, self.score_pairs, cross=self.cross, read_lock=read_lock)

    def run(
        self,
        query: Query,
        *,
        vectors: npt.ArrayLike | None = None,
        ids: Sequence[Any] | None = None,
        items: Any = None,
        exclude: Sequence[Any] | None = None,
    ) -> list[list[Hit]]:
        """Return the hits of each query, best first.

        Args:
            query: what to search for (`k` or `radius`, re-ranking, FAISS settings, the filter).
            vectors: `(nq, dim)` query embeddings, or
            ids: catalogue ids whose stored embeddings are the queries (each left out of its own
                hits when `query.exclude_self`).
            items: the raw items `vectors` were encoded from: the cross-encoder reads their texts
                (id queries give theirs from the index's metadata).
            exclude: per vector query, one catalogue id never to return.
        """
        self._check(query, vectors=vectors, ids=ids, text=ids is not None or items is not None)
        with self.read_lock() if self.read_lock is not None else contextlib.nullcontext():
            if ids is not None:
                xq = self.index.get(list(ids))
                exclude = list(ids) if query.exclude_self else None
            else:
                xq = np.asarray(vectors, dtype=np.float32)
            hits = self._candidates(xq, query, exclude)
            depth = _depth(query, hits)
            score_hits = self._rescorer(query, xq, hits, depth, ids, items)
        if score_hits is None:
            return hits
        keep = query.k if query.radius is None else max(map(len, hits), default=1) or 1
        return rerank_by(hits, score_hits, depth=depth, k=keep)

    def search(
        self,
        xq: npt.ArrayLike,
        k: int = 10,
        *,
        rerank: int = 0,
        params: SearchParams | None = None,
        exclude: Sequence[Any] | None = None,
        where: Any = None,
    ) -> list[list[Hit]]:
        """Return up to `k` hits per query row of `xq` `(nq, dim)`, nearest first (`run` with
        `Query(k=k, rerank=rerank, params=params, filter=where)`, the head re-ranking)."""
        query = Query(k=k, rerank=rerank, params=params, filter=where)
        return self.run(query, vectors=xq, exclude=exclude)

    def search_ids(
        self,
        ids: Sequence[Any],
        k: int = 10,
        *,
        rerank: int = 0,
        params: SearchParams | None = None,
        exclude_self: bool = True,
        where: Any = None,
    ) -> list[list[Hit]]:
        """Search with catalogue items as queries; each query's own item is left out by default."""
        query = Query(k=k, rerank=rerank, params=params, exclude_self=exclude_self, filter=where)
        return self.run(query, ids=ids)

    def range_search(
        self,
        xq: npt.ArrayLike,
        radius: float,
        *,
        params: SearchParams | None = None,
        rerank: bool = False,
        where: Any = None,
    ) -> list[list[Hit]]:
        """Return every item within distance `radius` of each query, nearest first (or by head
        probability when `rerank`)."""
        query = Query(radius=radius, rerank=int(bool(rerank)), params=params, filter=where)
        return self.run(query, vectors=xq)

    def _candidates(self, xq: np.ndarray, query: Query, exclude: Sequence[Any] | None) -> list[list[Hit]]:
        """Per query, the top `max(k, rerank)` hits, or all within `radius`, of the items
        `query.filter` allows; nearest first.

        Hits are built from what the index found (ids and metadata gathered with the labels), never
        looked up again by id: they came from the index itself.
        """
        if query.radius is not None:
            found = self.index.range_search(xq, query.radius, query.params, where=query.filter)
            return [
                self._hits(n.distances, n.ids, None if exclude is None else exclude[q])
                for q, n in enumerate(found)
            ]
        wanted = max(query.k, query.rerank)
        fetch = min(wanted + (exclude is not None), max(len(self.index), 1))
        distances, ids, texts = self.index.find(xq, fetch, query.params, where=query.filter)
        rows = zip(distances.tolist(), ids.tolist(), texts.tolist(), strict=True)
        if exclude is None:
            return [_stored_hits(d, i, t, wanted) for d, i, t in rows]
        return [_stored_hits(d, i, t, wanted, exclude[q]) for q, (d, i, t) in enumerate(rows)]

    def _rescorer(
        self,
        query: Query,
        xq: np.ndarray,
        hits: list[list[Hit]],
        depth: int,
        ids: Sequence[Any] | None,
        items: Any,
    ) -> ScoreHits | None:
        """What re-scores the first `depth` hits: None, the head or the cross-encoder. Reads what
        it needs from the index now (under the read lock): the hits' embeddings, the id queries'
        texts."""
        if query.mode == "none":
            return None
        if query.mode == "head":
            top = [hit.id for row in hits for hit in row[:depth]]
            xb = self.index.get(top) if top else np.zeros((0, xq.shape[1]), np.float32)
            score_pairs = self.score_pairs
            assert score_pairs is not None  # checked by _check

            def score_hits(rows: npt.NDArray[np.int64], chosen: Sequence[Hit]) -> np.ndarray:
                return score_pairs(xq[rows], xb)

            return score_hits
        assert self.cross is not None  # checked by _check
        texts = self.cross.texts_of(self.index.metadata(list(ids)) if ids is not None else items)
        return cross_scores(self.cross, texts, fusion=query.fusion)

    def _check(self, query: Query, *, vectors: Any, ids: Any, text: bool) -> None:
        if not isinstance(query, Query):
            raise ConfigError(f"Expected a simsearch.search.Query. Received: {type(query).__name__}")
        if (vectors is None) == (ids is None):
            given = [name for name, value in (("vectors", vectors), ("ids", ids)) if value is not None]
            raise ConfigError(f"Expected exactly one of vectors or ids. Received: {given or 'none'}")
        if query.mode == "head" and self.score_pairs is None:
            raise ConfigError("Expected a model with a pairwise head for rerank > 0. Received: no head")
        if query.mode == "cross" and self.cross is None:
            raise ConfigError("Expected a cross-encoder re-ranker. Received: none was loaded")
        if query.mode == "cross" and not text:
            raise ConfigError(
                "Expected items or ids to re-rank with a cross-encoder (vectors carry no text). "
                f"Received: vectors with rerank={query.rerank}; send rerank=0"
            )

    def _hits(self, distances: np.ndarray, ids: np.ndarray, exclude: Any) -> list[Hit]:
        keep = [
            (float(d), i)
            for d, i in zip(distances, ids.tolist(), strict=True)
            if np.isfinite(d) and i is not None and i != exclude
        ]
        metadata = self.index.metadata([i for _, i in keep]) if keep else []
        return [Hit(id=i, distance=d, metadata=m or {}) for (d, i), m in zip(keep, metadata, strict=True)]


def _stored_hits(
    distances: list[float], ids: list[Any], texts: list[str | None], wanted: int, exclude: Any = _NONE
) -> list[Hit]:
    """One query's hits from the index's own results, empty slots (distance inf) and `exclude`
    left out, at most `wanted`."""
    stored = Hit.stored
    rows = zip(distances, ids, texts, strict=True)
    hits = [stored(i, d, t) for d, i, t in rows if d < _INF and i != exclude]
    return hits[:wanted] if len(hits) > wanted else hits


def _depth(query: Query, hits: list[list[Hit]]) -> int:
    """How many of each query's nearest hits are re-scored: `rerank`, or every hit within the
    radius for a range search re-ranked by the head."""
    if query.radius is not None and query.mode == "head":
        return max(map(len, hits), default=1) or 1
    return query.rerank
