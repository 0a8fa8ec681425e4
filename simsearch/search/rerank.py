"""Re-rank nearest-neighbour candidates by the pairwise head: retrieve, then re-score the top
`depth` and order them by the head's probability (as sentence-transformers' retrieve & re-rank)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError
from simsearch.search.hits import Hit

__all__ = ["ScoreHits", "ScorePairs", "rerank", "rerank_by"]

ScorePairs = Callable[[np.ndarray, np.ndarray], np.ndarray]
# score_hits(queries, hits) -> (n,): query row `queries[i]` against `hits[i]`, e.g. a cross-encoder
# reading the query's text and the hit's stored text.
ScoreHits = Callable[[npt.NDArray[np.int64], Sequence[Hit]], np.ndarray]


def rerank(
    xq: npt.NDArray[np.float32],
    hits: Sequence[Sequence[Hit]],
    vectors: Sequence[npt.NDArray[np.float32]],
    score_pairs: ScorePairs,
    *,
    depth: int,
    k: int,
) -> list[list[Hit]]:
    """Re-score each query's first `depth` hits with `score_pairs` and keep the best `k`.

    Args:
        xq: `(nq, dim)` query embeddings.
        hits: per query, hits sorted by distance.
        vectors: per query, `(len(hits[i]), dim)` embeddings of those hits.
        score_pairs: `score_pairs(u, v) -> (n,)` P(same) for `(n, dim)` pairs.
        depth: how many of the nearest hits the head re-scores; the rest keep their distance order
            behind them.
        k: hits kept per query.

    Returns:
        Per query, up to `k` hits: the re-scored ones by descending `score` (ties by distance),
        then the others by distance. All pairs go to `score_pairs` in one batch.
    """
    lengths = [min(depth, len(h)) for h in hits]

    def score_hits(queries: npt.NDArray[np.int64], chosen: Sequence[Hit]) -> np.ndarray:
        u = xq[queries]
        v = np.concatenate([vectors[i][:n] for i, n in enumerate(lengths) if n])
        return score_pairs(u, v)

    return rerank_by(hits, score_hits, depth=depth, k=k)


def rerank_by(
    hits: Sequence[Sequence[Hit]], score_hits: ScoreHits, *, depth: int, k: int
) -> list[list[Hit]]:
    """Re-score each query's first `depth` hits with `score_hits` and keep the best `k`.

    Args:
        hits: per query, hits sorted by distance.
        score_hits: `score_hits(queries, hits) -> (n,)`: the score of hit `hits[j]` for query
            row `queries[j]`; all the pairs come in one call, query by query.
        depth: how many of the nearest hits are re-scored; the rest keep their distance order
            behind them.
        k: hits kept per query.

    Returns:
        Per query, up to `k` hits: the re-scored ones by descending `score` (ties by distance),
        then the others by distance.
    """
    if depth <= 0:
        raise ConfigError(f"Expected rerank depth > 0. Received: depth={depth}")
    lengths = [min(depth, len(h)) for h in hits]
    if sum(lengths) == 0:
        return [list(h[:k]) for h in hits]
    queries = np.repeat(np.arange(len(hits), dtype=np.int64), lengths)
    chosen = [hit for query_hits, n in zip(hits, lengths, strict=True) for hit in query_hits[:n]]
    scores = np.asarray(score_hits(queries, chosen), dtype=np.float32).reshape(-1)
    if scores.shape != (len(chosen),):
        raise ConfigError(f"Expected {len(chosen)} scores from the re-ranker. Received: shape={scores.shape}")
    out: list[list[Hit]] = []
    start = 0
    for query_hits, n in zip(hits, lengths, strict=True):
        rescored = [
            _with_score(hit, float(s))
            for hit, s in zip(query_hits[:n], scores[start : start + n], strict=True)
        ]
        start += n
        rescored.sort(key=lambda h: (-(h.score or 0.0), h.distance))
        out.append((rescored + list(query_hits[n:]))[:k])
    return out


def _with_score(hit: Hit, score: float) -> Hit:
    return hit.with_score(score)
