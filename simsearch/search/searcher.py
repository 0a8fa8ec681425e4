"""`Searcher`: nearest neighbours by vector or by catalogue id, optionally re-ranked by the head.

It works on a `FaissIndex` and a `score_pairs(u, v) -> (n,)` callable, never on a Keras model,
so it stays fast to import and to test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError
from simsearch.index.faiss_index import FaissIndex, SearchParams
from simsearch.search.hits import Hit
from simsearch.search.rerank import ScorePairs, rerank

__all__ = ["Searcher"]


class Searcher:
    """Search a `FaissIndex`, re-ranking the nearest candidates with the pairwise head.

    Args:
        index: the index to search.
        score_pairs: the head, `score_pairs(u, v) -> (n,)` P(same); needed for `rerank > 0`.
        max_k: the largest `k` (and re-rank depth) a query may ask for.

    Example:
    >>> searcher = Searcher(index, score_pairs=model.score_pairs)
    >>> hits = searcher.search(model.encode(images), k=5, rerank=50)
    >>> hits[0][0].id, hits[0][0].distance, hits[0][0].score
    """

    def __init__(self, index: FaissIndex, score_pairs: ScorePairs | None = None, *, max_k: int = 10_000):
        self.index = index
        self.score_pairs = score_pairs
        self.max_k = max_k

    def search(
        self,
        xq: npt.ArrayLike,
        k: int = 10,
        *,
        rerank: int = 0,
        params: SearchParams | None = None,
        exclude: Sequence[Any] | None = None,
    ) -> list[list[Hit]]:
        """Return up to `k` hits per query row of `xq` `(nq, dim)`, nearest first.

        Args:
            rerank: re-score the `rerank` nearest candidates with the head and order them by its
                probability (0 = distance order only).
            params: query-time FAISS settings (`nprobe`, `ef_search`).
            exclude: per query, one catalogue id never to return (the query item itself).
        """
        self._check(k, rerank)
        xq = np.asarray(xq, dtype=np.float32)
        fetch = min(max(k, rerank) + (exclude is not None), max(len(self.index), 1))
        found = self.index.search(xq, fetch, params)
        hits = [
            self._hits(d, i, None if exclude is None else exclude[q])
            for q, (d, i) in enumerate(zip(*found, strict=True))
        ]
        if rerank:
            vectors = [
                self.index.get([h.id for h in row]) if row else np.zeros((0, xq.shape[1]), np.float32)
                for row in hits
            ]
            assert self.score_pairs is not None
            return rerank_hits(xq, hits, vectors, self.score_pairs, rerank, k)
        return [row[:k] for row in hits]

    def search_ids(
        self,
        ids: Sequence[Any],
        k: int = 10,
        *,
        rerank: int = 0,
        params: SearchParams | None = None,
        exclude_self: bool = True,
    ) -> list[list[Hit]]:
        """Search with catalogue items as queries; each query's own item is left out by default."""
        xq = self.index.get(list(ids))
        return self.search(xq, k, rerank=rerank, params=params, exclude=list(ids) if exclude_self else None)

    def range_search(
        self,
        xq: npt.ArrayLike,
        radius: float,
        *,
        params: SearchParams | None = None,
        rerank: bool = False,
    ) -> list[list[Hit]]:
        """Return every item within distance `radius` of each query, nearest first (or by head
        probability when `rerank`)."""
        xq = np.asarray(xq, dtype=np.float32)
        rows = [self._hits(n.distances, n.ids, None) for n in self.index.range_search(xq, radius, params)]
        if not rerank:
            return rows
        self._check(1, 1)
        assert self.score_pairs is not None
        vectors = [
            self.index.get([h.id for h in row]) if row else np.zeros((0, xq.shape[1]), np.float32)
            for row in rows
        ]
        return rerank_hits(xq, rows, vectors, self.score_pairs, max(map(len, rows), default=1) or 1, None)

    def _check(self, k: int, depth: int) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.max_k:
            raise ConfigError(f"Expected 1 <= k <= {self.max_k}. Received: k={k!r}")
        if depth < 0 or depth > self.max_k:
            raise ConfigError(f"Expected 0 <= rerank <= {self.max_k}. Received: rerank={depth!r}")
        if depth and self.score_pairs is None:
            raise ConfigError("Expected a model with a pairwise head for rerank > 0. Received: no head")

    def _hits(self, distances: np.ndarray, ids: np.ndarray, exclude: Any) -> list[Hit]:
        keep = [
            (float(d), i)
            for d, i in zip(distances, ids.tolist(), strict=True)
            if np.isfinite(d) and i is not None and i != exclude
        ]
        metadata = self.index.metadata([i for _, i in keep]) if keep else []
        return [Hit(id=i, distance=d, metadata=m or {}) for (d, i), m in zip(keep, metadata, strict=True)]


def rerank_hits(
    xq: np.ndarray,
    hits: list[list[Hit]],
    vectors: list[np.ndarray],
    score_pairs: ScorePairs,
    depth: int,
    k: int | None,
) -> list[list[Hit]]:
    """`rerank` with `k=None` meaning keep them all."""
    longest = max((len(row) for row in hits), default=0)
    return rerank(xq, hits, vectors, score_pairs, depth=depth, k=k if k is not None else max(longest, 1))
