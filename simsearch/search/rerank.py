"""Re-rank nearest-neighbour candidates by the pairwise head: retrieve, then re-score the top
`depth` and order them by the head's probability (as sentence-transformers' retrieve & re-rank)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError
from simsearch.search.hits import Hit

__all__ = ["ScorePairs", "rerank"]

ScorePairs = Callable[[np.ndarray, np.ndarray], np.ndarray]


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
    if depth <= 0:
        raise ConfigError(f"Expected rerank depth > 0. Received: depth={depth}")
    lengths = [min(depth, len(h)) for h in hits]
    if sum(lengths) == 0:
        return [list(h[:k]) for h in hits]
    u = np.concatenate([np.repeat(xq[i : i + 1], n, axis=0) for i, n in enumerate(lengths)])
    v = np.concatenate([vectors[i][:n] for i, n in enumerate(lengths)])
    scores = np.asarray(score_pairs(u, v), dtype=np.float32).reshape(-1)
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
    return Hit(id=hit.id, distance=hit.distance, score=score, metadata=hit.metadata)
