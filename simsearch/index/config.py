"""Settings of a `FaissIndex` and the shape of its results.

Build-time settings (`IndexConfig`) are kept apart from query-time ones (`SearchParams`), as in
ann-benchmarks: the same built index answers with any `nprobe` / `efSearch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError
from simsearch.index.checks import IdArray

__all__ = ["METRICS", "Found", "IndexConfig", "Neighbors", "SearchParams"]

METRICS = ("cosine", "l2")


@dataclass(frozen=True)
class IndexConfig:
    """Build-time settings of a `FaissIndex`; query-time ones are in `SearchParams`.

    Args:
        metric: `"cosine"` or `"l2"`.
        factory: a FAISS factory string (`"Flat"`, `"IVF1024,Flat"`, `"IVF256,PQ16"`, `"HNSW32"`,
            ...); `None` lets `default_factory(n, d)` choose at build time.
        train_size: rows sampled to train IVF/PQ kinds; `None`: `max(65536, 64 * nlist)`.
        seed: seed of the training sample and of FAISS's k-means.
        max_tombstones: fraction of deleted rows in the index above which it is compacted.
        ef_construction: HNSW candidate list size while building the graph. FAISS's default, 40,
            leaves clustered data poorly connected: on 1M synthetic items (d=128) recall@10 at
            `ef_search=128` was 0.89 with 40 and 0.99 with 100, for ~1.7x the build time.
    """

    metric: str = "cosine"
    factory: str | None = None
    train_size: int | None = None
    seed: int = 0
    max_tombstones: float = 0.2
    ef_construction: int = 100

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(f"Expected metric in {METRICS}. Received: metric={self.metric!r}")
        if self.factory is not None and (not isinstance(self.factory, str) or not self.factory):
            raise ConfigError(f"Expected a FAISS factory string. Received: factory={self.factory!r}")
        if self.train_size is not None and self.train_size < 1:
            raise ConfigError(f"Expected train_size >= 1. Received: train_size={self.train_size}")
        if self.ef_construction < 1:
            raise ConfigError(
                f"Expected ef_construction >= 1. Received: ef_construction={self.ef_construction}"
            )
        if not 0.0 < self.max_tombstones <= 1.0:
            raise ConfigError(
                f"Expected 0 < max_tombstones <= 1. Received: max_tombstones={self.max_tombstones}"
            )


@dataclass(frozen=True)
class SearchParams:
    """Query-time settings, passed to each search and never stored in the index.

    Args:
        nprobe: IVF lists visited per query (capped at `nlist`).
        ef_search: HNSW candidate list size (raised to `k` when smaller).

    The defaults reach recall@10 >= 0.95 on clustered data at 100k-1M items with the default
    `IVF{4 sqrt(n)},Flat` and with `HNSW32` (see `benchmarks/bench_index.py`).
    """

    nprobe: int = 32
    ef_search: int = 128

    def __post_init__(self) -> None:
        for name in ("nprobe", "ef_search"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected {name} >= 1. Received: {name}={value!r}")


class Neighbors(NamedTuple):
    """Search results: `distances` float32 and catalogue `ids`, nearest first.

    From `search`: `(nq, k)` arrays; an empty slot has distance `inf` and id `-1` (int ids) or
    `None` (string ids). From `range_search`: one `Neighbors` of 1-D arrays per query.
    """

    distances: npt.NDArray[np.float32]
    ids: IdArray


class Found(NamedTuple):
    """`FaissIndex.find`'s results: `Neighbors` and each hit's stored metadata, `(nq, k)` arrays.

    `metadata` holds the index's JSON text of each hit's metadata (None: none given, or an empty
    slot), gathered in the same pass as the ids, so that a search never looks its own hits up
    again by id.
    """

    distances: npt.NDArray[np.float32]
    ids: IdArray
    metadata: npt.NDArray[np.object_]
