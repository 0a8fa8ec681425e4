"""k-NN joins through a `FaissIndex`: duplicates inside a catalogue, and matches of another one.

Both process the queries in chunks of `chunk_size` rows and keep, per chunk, only the pairs that
pass the `PairFilter`, so memory is that of the index plus one chunk's candidates plus the pairs
kept, whatever the catalogue size. The chunk step and the merge are `simsearch.dedup.chunks`,
which the Dask engine runs too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from simsearch.dedup.checks import IdLookup, check_chunk_size
from simsearch.dedup.chunks import concat_chunks, match_chunk, merge_self_join, self_join_chunk
from simsearch.dedup.pair_filter import PairFilter
from simsearch.dedup.pairs import DuplicatePairs
from simsearch.errors import ConfigError
from simsearch.index import FaissIndex, SearchParams
from simsearch.index.checks import check_embeddings, check_ids

__all__ = ["find_duplicates", "match_catalogues"]

logger = logging.getLogger(__name__)

# Below this many query rows the join takes seconds at most: no progress bar.
PROGRESS_MIN_ROWS = 50_000


def find_duplicates(
    index: FaissIndex,
    pair_filter: PairFilter | None = None,
    *,
    query_ids: Sequence[Any] | npt.ArrayLike | None = None,
    chunk_size: int = 4096,
    params: SearchParams | None = None,
    progress: bool = True,
) -> DuplicatePairs:
    """Find the near-duplicate pairs of a catalogue by a k-NN self-join through its index.

    Each query item is searched for its `k` nearest other items (fetching `k + 1` and dropping the
    item itself by id, so exact duplicate vectors ranked before it cannot push it into the results);
    a candidate is kept when it passes `pair_filter`: distance `<= max_distance` and, with a
    scorer, `score >= min_score`. A pair found from both ends is reported once, with `left`
    before `right` in catalogue order (`index.ids`), and its smaller distance; its score is
    computed on that orientation (the scorer's `left` side is the earlier item).

    Args:
        index: a built index over the catalogue.
        pair_filter: `k`, `max_distance`, `min_score` and the scorer; default `PairFilter()`
            (the 10 nearest of each item, unscored).
        query_ids: search only these items (e.g. the ones just added) against the whole index;
            default all. Pairs between two query items are still reported once. With
            `pair_filter.where`, only those of them it allows search, and only among the items
            it allows.
        chunk_size: query rows per FAISS search; bounds the memory of candidates and scoring.
        params: query-time FAISS settings (`nprobe`, `ef_search`); default `DEDUP_PARAMS`
            (`nprobe=8`), enough for near-duplicates; raise `nprobe` for loose thresholds.
        progress: show a tqdm progress bar (only for `PROGRESS_MIN_ROWS` query rows and more).

    Returns:
        `DuplicatePairs`, sorted by left then right catalogue position.

    Raises:
        ConfigError: `max_distance` out of the index metric's range, `chunk_size` < 1.
        DataError: `query_ids` not in the index; a scorer returning other than `(n,)`
            probabilities.

    Example:
    >>> pairs = find_duplicates(index, PairFilter(k=10, max_distance=0.05))
    >>> head = EmbeddingScorer(model.score_pairs)
    >>> pairs = find_duplicates(index, PairFilter(k=20, min_score=0.9, scorer=head))
    >>> new = find_duplicates(index, PairFilter(max_distance=0.05), query_ids=just_added)
    """
    pair_filter = _checked(pair_filter).check_metric(index.metric)
    chunk_size = check_chunk_size(chunk_size)
    catalogue = index.ids
    lookup = IdLookup(catalogue, "index")
    queries = lookup.positions(query_ids, "query_ids") if query_ids is not None else None
    if pair_filter.where is not None:  # only the allowed items search, and are found
        allowed = lookup.positions(index.allowed_ids(pair_filter.where), "allowed ids")
        queries = np.sort(allowed) if queries is None else queries[np.isin(queries, allowed)]
    n_queries = len(catalogue) if queries is None else len(queries)
    start, found = time.perf_counter(), []
    with _progress(n_queries, progress, "dedup") as bar:
        for lo in range(0, n_queries, chunk_size):
            rows = (
                np.arange(lo, min(lo + chunk_size, n_queries))
                if queries is None
                else queries[lo : lo + chunk_size]
            )
            found.append(self_join_chunk(index, catalogue, lookup, rows, pair_filter, params))
            bar.update(len(rows))
    pairs = merge_self_join(catalogue, found, pair_filter.scored)
    logger.info(
        "Self-join of %d of %d items (k=%d): %d pairs kept in %.1fs",
        n_queries,
        len(catalogue),
        pair_filter.k,
        len(pairs),
        time.perf_counter() - start,
    )
    return pairs


def match_catalogues(
    index: FaissIndex,
    xq: npt.ArrayLike,
    query_ids: Sequence[Any] | npt.ArrayLike,
    pair_filter: PairFilter | None = None,
    *,
    chunk_size: int = 4096,
    params: SearchParams | None = None,
    progress: bool = True,
) -> DuplicatePairs:
    """Match every item of catalogue B against the indexed catalogue A (record linkage).

    The filter is that of `find_duplicates`; nothing is excluded by id, as A and B may share
    ids. The scorer's `left` side is A's items (ids and embeddings from the index), its `right`
    side B's (`query_ids` and rows of `xq`).

    Args:
        index: the index of catalogue A.
        xq: `(nq, dim)` embeddings of catalogue B, from the same model.
        query_ids: `(nq,)` unique ids of catalogue B.
        pair_filter: `k` (candidates per item of B), `max_distance`, `min_score`, the scorer.
        chunk_size, params, progress: as for `find_duplicates`.

    Returns:
        `DuplicatePairs` with `left_ids` from A and `right_ids` from B, sorted by B's row, then
        by distance.

    Example:
    >>> xq = model.encode(items_b)
    >>> matches = match_catalogues(index_a, xq, ids_b, PairFilter(k=5, max_distance=0.1))
    """
    pair_filter = _checked(pair_filter).check_metric(index.metric)
    chunk_size = check_chunk_size(chunk_size)
    xq = check_embeddings(xq, index.dim, "xq")
    b_ids = check_ids(query_ids, len(xq), None, "query_ids")
    start, found = time.perf_counter(), []
    with _progress(len(xq), progress, "match") as bar:
        for lo in range(0, len(xq), chunk_size):
            rows = slice(lo, lo + chunk_size)
            found.append(match_chunk(index, xq[rows], b_ids[rows], pair_filter, params))
            bar.update(len(b_ids[rows]))
    pairs = concat_chunks(found, index.ids.dtype, b_ids.dtype, pair_filter.scored)
    logger.info(
        "Matched %d items against %d (k=%d): %d pairs kept in %.1fs",
        len(xq),
        len(index),
        pair_filter.k,
        len(pairs),
        time.perf_counter() - start,
    )
    return pairs


def _checked(pair_filter: Any) -> PairFilter:
    if pair_filter is None:
        return PairFilter()
    if not isinstance(pair_filter, PairFilter):
        raise ConfigError(
            "Expected pair_filter as a PairFilter(k=..., max_distance=..., min_score=..., scorer=...). "
            f"Received: {type(pair_filter).__name__}"
        )
    return pair_filter


def _progress(total: int, enabled: bool, what: str) -> Any:
    return tqdm(total=total, unit="item", desc=what, disable=not enabled or total < PROGRESS_MIN_ROWS)
