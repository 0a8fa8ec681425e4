"""Dedup and match as Dask jobs: parallel query blocks against the index, scored on the workers.

Dedup (self-join), in three stages:

1. blocks: the catalogue positions to search are cut into blocks of `chunk_size` rows; each task
   searches one block against the index its worker keeps (`WorkerCache.index`), drops the item
   itself, applies `max_distance`, and re-scores the candidates with the spec's scorer (the head
   its worker keeps, `WorkerHeadScorer`): the local engine's own chunk step
   (`simsearch.dedup.chunks.self_join_chunk`), so the candidates and scores are the ones
   `simsearch.dedup.find_duplicates` computes;
2. shuffle: each block splits its pairs by the range of catalogue positions their left item lies
   in, one range per output part;
3. parts: each part task merges what the blocks sent it (`merge_self_join`: a pair found from
   both ends once, at its smaller distance), turns positions into ids and writes its part file.

The pairs, read in part order, are `find_duplicates`'s, row for row; grouping runs on the
driver over them (`group_pairs`).

Match: one task per partition of catalogue B reads it, encodes it with the worker's tower,
matches it against the worker's index with `simsearch.dedup.match_catalogues` and writes its
part file.
"""

from __future__ import annotations

import logging
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.dedup.checks import IdLookup
from simsearch.dedup.chunks import ChunkPairs, merge_self_join, self_join_chunk
from simsearch.dedup.join import match_catalogues
from simsearch.dedup.pair_filter import PairFilter
from simsearch.dedup.pairs import DuplicatePairs
from simsearch.dedup.scoring import PairSide
from simsearch.distributed.catalog import plan_partitions, read_partition
from simsearch.distributed.encode import catalog_spec, encode_items, total_threads, wait_with_progress
from simsearch.distributed.parts import (
    check_output_dir,
    commit_dir,
    id_type_of,
    part_path,
    staging_dir,
    write_pairs_part,
)
from simsearch.errors import ConfigError
from simsearch.index import SearchParams
from simsearch.index.checks import IdArray, check_ids

__all__ = ["JoinSpec", "WorkerHeadScorer", "find_duplicates_dask", "match_catalog_dask"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerHeadScorer:
    """A `PairScorer` for Dask jobs: the pairwise head of the model in `model_dir`, loaded once
    per worker (`WorkerCache.model`) by the first task that scores; only the path travels.

    Args:
        model_dir: the model directory, readable from every worker.

    Example:
    >>> PairFilter(k=10, max_distance=0.2, min_score=0.9, scorer=WorkerHeadScorer("models/p"))
    """

    model_dir: str

    def __post_init__(self) -> None:
        if not self.model_dir:
            raise ConfigError(f"Expected model_dir to re-rank with. Received: {self.model_dir!r}")
        object.__setattr__(self, "model_dir", str(self.model_dir))

    def score_pairs(
        self, left: PairSide, right: PairSide, distances: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        from simsearch.distributed.cluster import worker_cache

        model = worker_cache().model(self.model_dir)
        return np.asarray(model.score_pairs(left.rows, right.rows), dtype=np.float32)


@dataclass(frozen=True)
class JoinSpec:
    """What a dedup or match job keeps (a `PairFilter`, as `find_duplicates` takes it) and how
    it runs.

    The filter's scorer runs on the workers: it is pickled to them, so it should hold paths,
    not models (`WorkerHeadScorer`).

    Args:
        pair_filter: `k`, `max_distance`, `min_score` and the scorer.
        model_dir: the model directory whose tower encodes catalogue B in a match.
        chunk_size: query rows per block (a block is one task).
        params: query-time FAISS settings; None: `DEDUP_PARAMS`.
    """

    pair_filter: PairFilter = field(default_factory=PairFilter)
    model_dir: str | None = None
    chunk_size: int = 4096
    params: SearchParams | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.pair_filter, PairFilter):
            raise ConfigError(
                f"Expected pair_filter as a PairFilter. Received: {type(self.pair_filter).__name__}"
            )
        if isinstance(self.chunk_size, bool) or not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise ConfigError(f"Expected chunk_size >= 1. Received: chunk_size={self.chunk_size!r}")


def find_duplicates_dask(
    client: Any,
    index_dir: str | os.PathLike[str],
    catalogue: IdArray,
    spec: JoinSpec,
    out: str | os.PathLike[str],
    *,
    query_ids: Sequence[Any] | npt.ArrayLike | None = None,
    partitions: int | None = None,
) -> DuplicatePairs:
    """Self-join the index in `index_dir` on the cluster; write the pairs as partitioned Parquet.

    Args:
        client: a `distributed.Client` from `connect`.
        index_dir: the index directory, readable from every worker.
        catalogue: its ids in catalogue order (`FaissIndex.ids` of the same directory).
        spec: the filters and the model.
        out: the output directory (`pairs.parquet`), see `simsearch.distributed.parts`.
        query_ids: search only these items against the whole index (incremental dedup).
        partitions: part files; default one per worker thread.

    Returns:
        All the pairs, as `find_duplicates` returns them.

    Example:
    >>> head = WorkerHeadScorer("models/p")
    >>> spec = JoinSpec(PairFilter(k=10, max_distance=0.2, min_score=0.9, scorer=head))
    >>> pairs = find_duplicates_dask(client, "indexes/p", index.ids, spec, "out/pairs.parquet")
    """
    target = check_output_dir(out)
    n = len(catalogue)
    if query_ids is None:
        rows = np.arange(n)
    else:
        rows = IdLookup(catalogue, "index").positions(query_ids, "query_ids")
    n_parts = max(1, min(partitions or total_threads(client), max(n, 1)))
    bounds = np.linspace(0, n, n_parts + 1).round().astype(np.int64)
    index_path = str(Path(index_dir).resolve())
    blocks = [
        client.submit(_dedup_block, index_path, rows[lo : lo + spec.chunk_size], spec, bounds, pure=False)
        for lo in range(0, len(rows), spec.chunk_size)
    ]
    wait_with_progress(blocks, "dedup", unit="block")
    tmp = staging_dir(target)
    try:
        parts = [
            client.submit(
                _dedup_part,
                index_path,
                [client.submit(operator.getitem, block, p, pure=False) for block in blocks],
                spec.pair_filter.scored,
                part_path(tmp, p),
                pure=False,
            )
            for p in range(n_parts)
        ]
        wait_with_progress(parts, "writing", unit="part")
        pairs = _concat(client.gather(parts), catalogue, spec.pair_filter.scored)
        commit_dir(tmp, target)
    finally:
        if tmp.exists():
            _remove(tmp)
    logger.info("Dask self-join of %d of %d items: %d pairs in %d parts", len(rows), n, len(pairs), n_parts)
    return pairs


def match_catalog_dask(
    client: Any,
    index_dir: str | os.PathLike[str],
    catalog: str | os.PathLike[str],
    spec: JoinSpec,
    out: str | os.PathLike[str],
    *,
    fields: Sequence[str] | None = None,
    partitions: int | None = None,
    batch_size: int = 256,
    id_column: str = "id",
    encoding: str = "utf-8",
) -> tuple[DuplicatePairs, int]:
    """Match catalogue B at `catalog` against the index on the cluster; write partitioned Parquet.

    Returns:
        The matches, as `match_catalogues` returns them, and the number of items of B.

    Raises:
        DataError: ids of B that repeat across partitions (nothing is written).
    """
    if spec.model_dir is None:
        raise ConfigError("Expected model_dir to encode catalogue B with. Received: none")
    target = check_output_dir(out)
    plan = plan_partitions(catalog, partitions or 4 * total_threads(client), encoding)
    cat_spec = catalog_spec(spec.model_dir, fields, id_column=id_column, encoding=encoding)
    tmp = staging_dir(target)
    try:
        futures = [
            client.submit(
                _match_partition,
                str(Path(index_dir).resolve()),
                partition,
                cat_spec,
                spec,
                batch_size,
                part_path(tmp, partition.number),
                pure=False,
            )
            for partition in plan
        ]
        wait_with_progress(futures, "match", unit="partition")
        results = client.gather(futures)
        b_ids = check_ids(np.concatenate([ids for _, ids in results]), None, None, "ids of catalogue B")
        pairs = _concat([p for p, _ in results], None, spec.pair_filter.scored)
        commit_dir(tmp, target)
    finally:
        if tmp.exists():
            _remove(tmp)
    return pairs, len(b_ids)


# ---- tasks ------------------------------------------------------------------------------------


def _dedup_block(
    index_dir: str, rows: npt.NDArray[np.int64], spec: JoinSpec, bounds: npt.NDArray[np.int64]
) -> tuple[ChunkPairs, ...]:
    """Search one block of catalogue positions; return its pairs split by output part."""
    from simsearch.distributed.cluster import worker_cache

    loaded = worker_cache().index(index_dir)
    pair_filter = spec.pair_filter.check_metric(loaded.index.metric)
    found = self_join_chunk(loaded.index, loaded.catalogue, loaded.lookup, rows, pair_filter, spec.params)
    part = np.searchsorted(bounds, found.left, side="right") - 1
    return tuple(found.select(part == p) for p in range(len(bounds) - 1))


def _dedup_part(index_dir: str, pieces: list[ChunkPairs], scored: bool, path: str) -> DuplicatePairs:
    """Merge the blocks' pairs of one part (the rule of `find_duplicates`) and write its file."""
    from simsearch.distributed.cluster import worker_cache

    catalogue = worker_cache().index(index_dir).catalogue
    pairs = merge_self_join(catalogue, pieces, scored)
    write_pairs_part(pairs, path, id_type_of(catalogue))
    return pairs


def _match_partition(
    index_dir: str, partition: Any, cat_spec: Any, spec: JoinSpec, batch_size: int, path: str
) -> tuple[DuplicatePairs, IdArray]:
    """Read, encode and match one partition of catalogue B; write its part file."""
    from simsearch.distributed.cluster import worker_cache

    cache = worker_cache()
    model = cache.model(spec.model_dir)
    index = cache.index(index_dir).index
    items = read_partition(partition, cat_spec)
    xq = encode_items(model, items, batch_size)
    pairs = match_catalogues(
        index, xq, items.ids, spec.pair_filter, chunk_size=spec.chunk_size, params=spec.params, progress=False
    )
    write_pairs_part(pairs, path, index.id_kind)
    return pairs, items.ids


# ---- helpers ----------------------------------------------------------------------------------


def _concat(parts: list[DuplicatePairs], catalogue: IdArray | None, scored: bool) -> DuplicatePairs:
    """The parts' pairs as one `DuplicatePairs`, in part order."""
    if not parts or not sum(len(p) for p in parts):
        dtype = np.int64 if catalogue is not None and catalogue.dtype.kind == "i" else object
        return DuplicatePairs.empty(dtype, scored=scored)
    parts = [p for p in parts if len(p)]
    return DuplicatePairs(
        np.concatenate([p.left_ids for p in parts]),
        np.concatenate([p.right_ids for p in parts]),
        np.concatenate([p.distances for p in parts]),
        np.concatenate([p.scores for p in parts]) if scored else None,
    )


def _remove(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
