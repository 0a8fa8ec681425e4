"""Leave-one-out retrieval quality over one labelled set of embeddings.

Every item queries all the others (itself excluded), by exact brute force in numpy, a chunk of
queries at a time; an item of the query's class is relevant. This measures the embedding, not an
index: compare with `simsearch.index` results to see what approximate search costs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError

__all__ = ["pair_retrieval_metrics", "retrieval_metrics"]

logger = logging.getLogger(__name__)

_METRICS = ("cosine", "l2")


def _check_inputs(
    embeddings: npt.ArrayLike, labels: npt.ArrayLike
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    emb, lab = np.asarray(embeddings, dtype=np.float32), np.asarray(labels)
    if emb.ndim != 2 or lab.ndim != 1 or len(emb) != len(lab):
        raise DataError(
            "Expected embeddings (n, dim) and labels (n,). "
            f"Received: embeddings.shape={emb.shape}, labels.shape={lab.shape}"
        )
    if not np.issubdtype(lab.dtype, np.integer):
        raise DataError(f"Expected integer labels. Received: dtype={lab.dtype}")
    if not np.isfinite(emb).all():
        raise DataError(f"Expected finite embeddings. Received: {(~np.isfinite(emb)).sum()} NaN/inf")
    labelled = lab >= 0
    if not labelled.all():
        logger.info("Leaving out %d unlabelled items (negative label)", (~labelled).sum())
    return emb[labelled], lab[labelled].astype(np.int64)


def _check_settings(ks: Sequence[int], metric: str, chunk_size: int) -> None:
    if metric not in _METRICS:
        raise ConfigError(f"Expected metric in {_METRICS}. Received: metric={metric!r}")
    if len(ks) == 0 or any(int(k) != k or k < 1 for k in ks):
        raise ConfigError(f"Expected ks as positive integers. Received: ks={tuple(ks)!r}")
    if int(chunk_size) != chunk_size or chunk_size < 1:
        raise ConfigError(f"Expected a positive integer chunk_size. Received: chunk_size={chunk_size!r}")


def _top_k(
    xq: npt.NDArray[np.float32],
    xb: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    k: int,
    metric: str,
) -> npt.NDArray[np.int64]:
    """Rows of `xb` with the k best scores per query, best first; `rows` are the queries' own
    rows of `xb` (left out), -1 where a query is not in `xb`."""
    scores = xq @ xb.T
    if metric == "l2":
        # Ranking by -|q - x|^2 = 2 q.x - |x|^2 - |q|^2, and |q|^2 is fixed per query.
        scores = 2 * scores - (xb**2).sum(axis=1)
    own = rows >= 0
    scores[np.flatnonzero(own), rows[own]] = -np.inf
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def _average_precision_at(hits: npt.NDArray[np.bool_], n_relevant: npt.NDArray[np.int64]) -> float:
    """Mean AP@k, `AP@k = sum_{i<=k} P(i) rel(i) / min(k, n_relevant)`, for `(q, k)` hits."""
    k = hits.shape[1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    ap = (precision_at * hits).sum(axis=1) / np.minimum(k, n_relevant)
    return float(ap.mean())


def retrieval_metrics(
    embeddings: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    ks: Sequence[int] = (1, 5, 10),
    metric: Literal["cosine", "l2"] = "cosine",
    chunk_size: int = 1024,
) -> dict[str, float | int]:
    """Measure leave-one-out retrieval: every item queries all the others.

    Items with a negative label (unlabelled) are left out. Queries whose class has no other item
    are skipped and counted in `n_skipped`. A k larger than the number of other items means all
    of them. Ties in score are broken arbitrarily.

    Args:
        embeddings: `(n, dim) float32`.
        labels: `(n,) int64` class of each item.
        ks: cut-offs for `recall@k`; `map@k` uses the largest.
        metric: "cosine" or "l2" (Euclidean distance).
        chunk_size: queries scored at once; memory is `chunk_size * n` float32.

    Returns:
        `recall@k` for each k (share of queries with a same-class item in their top k),
        `precision@1`, `map@K` for K = max(ks), and the ints `n_queries` and `n_skipped`.

    Example:
        >>> retrieval_metrics(embeddings, labels, ks=(1, 10))
        {'recall@1': 0.91, 'recall@10': 0.99, 'precision@1': 0.91, 'map@10': 0.83, ...}
    """
    _check_settings(ks, metric, chunk_size)
    xb, lab = _check_inputs(embeddings, labels)
    if metric == "cosine":
        xb = xb / np.maximum(np.linalg.norm(xb, axis=1, keepdims=True), 1e-12)
    _, inverse, counts = np.unique(lab, return_inverse=True, return_counts=True)
    n_relevant = counts[inverse] - 1
    queries = np.flatnonzero(n_relevant > 0)
    if len(queries) == 0:
        raise DataError(
            f"Expected a class with at least 2 items. Received: {len(lab)} labelled items, "
            f"{len(counts)} classes"
        )
    k_max = min(max(ks), len(xb) - 1)
    hits = np.empty((len(queries), k_max), dtype=bool)
    for start in range(0, len(queries), chunk_size):
        rows = queries[start : start + chunk_size]
        top = _top_k(xb[rows], xb, rows, k_max, metric)
        hits[start : start + len(rows)] = lab[top] == lab[rows, None]
    result: dict[str, float | int] = {f"recall@{k}": float(hits[:, :k].any(axis=1).mean()) for k in ks}
    result["precision@1"] = float(hits[:, 0].mean())
    result[f"map@{max(ks)}"] = _average_precision_at(hits, n_relevant[queries])
    result["n_queries"] = len(queries)
    result["n_skipped"] = len(lab) - len(queries)
    return result


def pair_retrieval_metrics(
    embeddings: npt.ArrayLike,
    left: npt.ArrayLike,
    right: npt.ArrayLike,
    candidates: npt.ArrayLike,
    *,
    ks: Sequence[int] = (1, 5, 10),
    metric: Literal["cosine", "l2"] = "cosine",
    both_ways: bool = True,
    chunk_size: int = 1024,
) -> dict[str, float | int]:
    """Measure paraphrase retrieval from labelled positive pairs: does `left[i]`, searching all
    `candidates` (itself excluded), find a partner among its top k?

    Each distinct query counts once; every item it is paired with positively is relevant.

    Args:
        embeddings: `(n, dim) float32`, one row per item.
        left, right: `(m,)` row positions of the positive pairs.
        candidates: row positions searched (e.g. every item of the test pairs, or one catalogue).
        both_ways: also query from `right` (one catalogue, symmetric pairs); False for matching
            catalogue B against A.

    Returns:
        `recall@k` for each k, `mrr@K` for K = max(ks), and `n_queries`.

    Example:
        >>> pair_retrieval_metrics(emb, pairs.left[pos], pairs.right[pos], np.arange(len(emb)))
        {'recall@1': 0.62, 'recall@5': 0.85, ...}
    """
    _check_settings(ks, metric, chunk_size)
    xb = np.asarray(embeddings, dtype=np.float32)
    a, b = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    pool = np.unique(np.asarray(candidates, dtype=np.int64))
    if xb.ndim != 2 or a.shape != b.shape or a.ndim != 1 or len(a) == 0 or len(pool) < 2:
        raise DataError(
            "Expected embeddings (n, dim), left and right (m,) with m >= 1 and >= 2 candidates. Received: "
            f"embeddings.shape={xb.shape}, left.shape={a.shape}, right.shape={b.shape}, "
            f"candidates={len(pool)}"
        )
    if min(a.min(), b.min(), pool.min()) < 0 or max(a.max(), b.max(), pool.max()) >= len(xb):
        raise DataError(f"Expected positions in [0, {len(xb)}). Received: a position outside")
    if metric == "cosine":
        xb = xb / np.maximum(np.linalg.norm(xb, axis=1, keepdims=True), 1e-12)
    relevant: dict[int, set[int]] = {}
    for q, r in zip(*((np.r_[a, b], np.r_[b, a]) if both_ways else (a, b)), strict=True):
        if q != r:
            relevant.setdefault(int(q), set()).add(int(r))
    queries = np.array(sorted(relevant), dtype=np.int64)
    k_max = min(max(ks), len(pool) - 1)
    hits = np.zeros((len(queries), k_max), dtype=bool)
    for start in range(0, len(queries), chunk_size):
        rows = queries[start : start + chunk_size]
        top = _top_k(xb[rows], xb[pool], _pool_positions(pool, rows), k_max, metric)
        for i, (q, found) in enumerate(zip(rows, pool[top], strict=True)):
            hits[start + i] = np.isin(found, list(relevant[int(q)]))
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.inf)
    result: dict[str, float | int] = {f"recall@{k}": float(hits[:, :k].any(axis=1).mean()) for k in ks}
    result[f"mrr@{max(ks)}"] = float(np.mean(1.0 / first))
    result["n_queries"] = len(queries)
    return result


def _pool_positions(pool: npt.NDArray[np.int64], rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Each query's own position in `pool` (to leave it out), or -1 when it is not a candidate."""
    at = np.searchsorted(pool, rows)
    inside = (at < len(pool)) & (pool[np.minimum(at, len(pool) - 1)] == rows)
    return np.where(inside, at, -1)
