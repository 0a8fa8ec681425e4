"""Building one FAISS index from encoded partitions spread over a Dask cluster.

autofaiss's distributed pattern, with nothing in it that depends on the engine:

1. train: the driver draws the training sample (the same seeded rows `FaissIndex.build` would
   draw from the whole catalogue), fetches just those rows from the partitions and trains the
   coarse quantizer (and PQ codebooks) once;
2. broadcast: the empty trained index goes to every worker;
3. add: each partition adds its rows to its own copy, under its catalogue positions as FAISS
   labels (a shard);
4. merge: the driver merges the shards in catalogue order (`merge_from`, which moves inverted
   lists without re-encoding anything).

An IVF shard holds, in each list, its rows in catalogue order, so the merged lists are those a
single `add` of the whole catalogue writes: the result is the index `FaissIndex.build` builds on
one machine, byte for byte (the tests check it for Flat and IVF). Kinds FAISS cannot merge (HNSW,
pre-transforms) are added on the driver, after the parallel encoding.

Merging into one index, rather than keeping the shards behind `faiss.IndexShards`, keeps the
index directory, `SearchEngine`, the server and every index kind's update path (add, delete,
compact) as they are; its limit is that the merged index must fit one machine, which
`docs/scaling.md` works out.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from simsearch.distributed.encode import EncodedPart, encode_catalog, wait_with_progress
from simsearch.errors import DataError
from simsearch.index import FaissIndex, IndexConfig, StoredItems, default_factory, save_index
from simsearch.index.checks import check_ids, unit_rows
from simsearch.index.faiss_ops import make_index, train

__all__ = ["build_from_parts", "build_index_dask", "mergeable"]

logger = logging.getLogger(__name__)


def build_index_dask(
    client: Any,
    model_dir: str | os.PathLike[str],
    catalog: str | os.PathLike[str],
    index_dir: str | os.PathLike[str],
    *,
    factory: str | None = None,
    fields: Sequence[str] | None = None,
    partitions: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    id_column: str = "id",
    encoding: str = "utf-8",
) -> FaissIndex:
    """Encode `catalog` on the cluster and write the index directory, as `simsearch.engine.build_index`.

    Example:
    >>> with connect(workers=4) as client:
    ...     build_index_dask(client, "models/products", "catalogue.parquet", "indexes/products")
    """
    from simsearch.model_config import manifest_extra
    from simsearch.models.siamese import SiameseModel

    parts = encode_catalog(
        client,
        model_dir,
        catalog,
        fields=fields,
        partitions=partitions,
        batch_size=batch_size,
        id_column=id_column,
        encoding=encoding,
    )
    model = SiameseModel.load(model_dir)  # for the manifest: threshold, calibration, hash
    index = build_from_parts(client, parts, IndexConfig(metric=model.metric, factory=factory, seed=seed))
    save_index(index_dir, index, manifest_extra(model, Path(model_dir)))
    return index


def build_from_parts(
    client: Any, parts: Sequence[Any], config: IndexConfig, timings: dict[str, float] | None = None
) -> FaissIndex:
    """Build a `FaissIndex` from futures of `EncodedPart` (in catalogue order) on the cluster.

    Args:
        timings: filled with the seconds of each stage (`train`, `add_merge`, `items`) when given.

    Raises:
        DataError: no rows, repeated ids, NaN/inf or zero rows for cosine, too few rows to train.
    """
    start = time.perf_counter()
    sizes = client.gather(client.map(len, parts, pure=False))
    n = int(sum(sizes))
    if n == 0:
        raise DataError("Expected a non-empty catalogue. Received: 0 items")
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    d = int(client.submit(_dim, parts[0], pure=False).result())
    factory = config.factory or default_factory(n, d)
    empty = make_index(factory, d, config.metric, config.ef_construction)
    if not empty.is_trained:
        sample = _training_sample(client, parts, offsets, config, empty)
        train(empty, sample, config.train_size, config.seed)
    trained = time.perf_counter()
    merged = _add_and_merge(client, parts, offsets, empty, config.metric)
    added = time.perf_counter()
    index = _wrap(client, parts, merged, factory, config)
    if timings is not None:
        timings |= {"train": trained - start, "add_merge": added - trained}
        timings["items"] = time.perf_counter() - added
    logger.info(
        "Built %s over %d items in %d partitions: train %.1fs, add+merge %.1fs, items %.1fs",
        factory,
        n,
        len(parts),
        trained - start,
        added - trained,
        time.perf_counter() - added,
    )
    return index


def mergeable(index: Any) -> bool:
    """Whether shards of this FAISS index kind can be built apart and merged (`merge_from`)."""
    base = faiss.downcast_index(index)
    return isinstance(base, (faiss.IndexFlatCodes, faiss.IndexIVF))


# ---- stages -----------------------------------------------------------------------------------


def _training_sample(
    client: Any, parts: Sequence[Any], offsets: npt.NDArray[np.int64], config: IndexConfig, empty: Any
) -> npt.NDArray[np.float32]:
    """The rows `simsearch.index.faiss_ops.train` samples from the whole catalogue, fetched by position."""
    ivf = faiss.try_extract_index_ivf(empty)
    size = config.train_size or max(65_536, 64 * (ivf.nlist if ivf is not None else 0))
    n = int(offsets[-1])
    rng = np.random.default_rng(config.seed)
    wanted = np.arange(n) if n <= size else np.sort(rng.choice(n, size, replace=False))
    futures = []
    for p, part in enumerate(parts):
        lo, hi = np.searchsorted(wanted, offsets[p : p + 2])
        if hi > lo:
            rows = wanted[lo:hi] - offsets[p]
            futures.append(client.submit(_rows_of, part, rows, config.metric, pure=False))
    return np.concatenate(client.gather(futures))


def _add_and_merge(
    client: Any, parts: Sequence[Any], offsets: npt.NDArray[np.int64], empty: Any, metric: str
) -> Any:
    if not mergeable(empty):
        kind = type(faiss.downcast_index(empty)).__name__
        logger.info("%s cannot merge shards: adding on the driver", kind)
        gathered: list[EncodedPart] = client.gather(list(parts))
        empty.add(_normalised(np.concatenate([p.embeddings for p in gathered]), metric))
        return empty
    serialized = faiss.serialize_index(empty)
    blob = client.scatter(serialized, broadcast=True)
    shards = [
        client.submit(_shard, part, blob, int(offsets[p]), metric, pure=False) for p, part in enumerate(parts)
    ]
    wait_with_progress(shards, "adding", unit="shard")
    merged = faiss.deserialize_index(serialized)  # the shards' class: merge_from wants the same
    for shard in shards:  # in catalogue order; each shard is released once merged
        merged.merge_from(shard.result(), 0)
        shard.release()
    return merged


def _wrap(client: Any, parts: Sequence[Any], merged: Any, factory: str, config: IndexConfig) -> FaissIndex:
    """The `FaissIndex` over the merged FAISS index, with the parts' ids, embeddings and metadata."""
    gathered: list[EncodedPart] = client.gather(list(parts))
    ids = check_ids(np.concatenate([p.ids for p in gathered]), None, None)
    items = StoredItems(
        np.concatenate([p.embeddings for p in gathered]),
        ids,
        np.concatenate([p.metadata for p in gathered]),
        np.arange(len(ids), dtype=np.int64),
        config.metric,
    )
    return FaissIndex._restore(config, factory, merged, items)


# ---- tasks ------------------------------------------------------------------------------------


def _dim(part: EncodedPart) -> int:
    return int(part.embeddings.shape[1])


def _rows_of(part: EncodedPart, rows: npt.NDArray[np.int64], metric: str) -> npt.NDArray[np.float32]:
    return _normalised(part.embeddings[rows], metric)


def _shard(part: EncodedPart, blob: npt.NDArray[np.uint8], offset: int, metric: str) -> Any:
    """Add one partition to a copy of the empty trained index, under its catalogue positions."""
    shard = faiss.deserialize_index(blob)
    xn = _normalised(part.embeddings, metric)
    if isinstance(faiss.downcast_index(shard), faiss.IndexIVF):
        shard.add_with_ids(xn, np.arange(offset, offset + len(xn), dtype=np.int64))
    else:  # flat codes are labelled by their position: the merge appends them in order
        shard.add(xn)
    return shard


def _normalised(x: npt.NDArray[np.float32], metric: str) -> npt.NDArray[np.float32]:
    return unit_rows(x, "embeddings") if metric == "cosine" else np.ascontiguousarray(x)
