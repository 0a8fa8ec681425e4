"""`FaissIndex`: a FAISS index over catalogue embeddings, keyed by catalogue ids, updated in place.

Distances are simsearch distances (lower = more similar) for every index kind and every method:

- `metric="cosine"`: rows are L2-normalised and searched by inner product; distance = `1 - cos`.
- `metric="l2"`: the true Euclidean distance, the square root of FAISS's squared L2.

With lossy codes (`PQ`, `SQ`) both are FAISS's estimates from the codes.

Updates never rebuild the index. `add` appends to it; `delete` marks tombstones that every search
filters out (with a FAISS `IDSelector` where the kind takes search parameters, else by fetching more
and dropping them), because HNSW cannot remove vectors and one mechanism for every kind is simpler to
trust; `upsert` is a delete plus an add. When tombstones pass `max_tombstones` of the index,
`compact` rebuilds it from the kept embeddings, reusing the trained quantizer. A search never
returns a deleted id, and it returns `k` results whenever `k` live items exist: query rows an
approximate search leaves short are answered exactly from the kept embeddings.

The index keeps the embeddings as given (`get` returns them exactly, also for PQ), their catalogue
ids and per-item JSON metadata beside FAISS: memory is `n * d * 4` bytes plus the FAISS index's own
(twice a Flat index; mostly the kept embeddings for PQ).
Updates are not thread-safe; concurrent searches are.
"""

# ruff: noqa: E741  (FAISS vocabulary: D distances, I labels)

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError, DuplicateIdError, NotBuiltError
from simsearch.index._table import Table
from simsearch.index.allowed import EXACT_BUDGET, SELECTIVE, Allowed, AllowedCache
from simsearch.index.checks import (
    IdArray,
    check_embeddings,
    check_ids,
    check_k,
    check_metadata,
    check_radius,
    id_kind,
    query_rows,
    unit_rows,
)
from simsearch.index.config import Found, IndexConfig, Neighbors, SearchParams
from simsearch.index.faiss_ops import (
    base_index,
    default_factory,
    faiss_metric,
    faiss_search,
    full_distances,
    keep_live,
    live_selector,
    make_index,
    search_parameters,
    to_distances,
    to_threshold,
    train,
)
from simsearch.index.fields import Fields, RowFilter
from simsearch.index.h5_store import StoredItems

__all__ = ["FaissIndex"]

logger = logging.getLogger(__name__)


class FaissIndex:
    """A FAISS index over `(n, d) float32` embeddings, keyed by catalogue ids (str or int).

    Args:
        config: build-time settings; `IndexConfig()` by default.

    Example:
    >>> index = FaissIndex(IndexConfig(metric="cosine", factory="HNSW32")).build(xb, ids)
    >>> D, found = index.search(xq, k=10, params=SearchParams(ef_search=64))
    >>> index.delete(["sku-17"]); index.upsert(xb_new, ["sku-3"])
    """

    # learned state, set by `build` (or `load_index`)
    index_: Any  # the FAISS index
    factory_: str  # the factory string it was built from
    _table: Table  # ids, embeddings, metadata, live flags by FAISS label
    _empty: Any  # the trained, empty index (serialised) that `compact` starts from
    _sel: tuple[Any, Any] | None  # cached selector of live labels, and its bitmap
    _params: dict[tuple[int, int, int], Any]  # cached (FAISS SearchParameters, the selector they use)
    _params_ok: bool | None  # whether the index takes SearchParameters (probed once)
    _allowed: AllowedCache  # rows allowed by the filters of recent searches

    def __init__(self, config: IndexConfig | None = None) -> None:
        self.config = config or IndexConfig()
        # the query settings of a search that names none: chosen for a recall target by
        # `simsearch.index.budget`, else `SearchParams()`; saved in the manifest
        self.search_defaults = SearchParams()
        self.tuning: dict[str, Any] | None = None  # how they were chosen and the recall measured

    # ---- building and updating -------------------------------------------------------------

    def build(
        self, xb: npt.ArrayLike, ids: Sequence[Any] | npt.ArrayLike, metadata: Sequence[Any] | None = None
    ) -> FaissIndex:
        """Build the index over `xb` `(n, d)` with catalogue `ids` `(n,)` and optional metadata.

        Trains IVF/PQ kinds on a seeded sample. Returns `self`.

        Raises:
            DataError: an empty catalogue, NaN/inf, ids not one per row, duplicate ids, or too few
                rows to train the factory.
            ConfigError: a factory string FAISS refuses.
        """
        xb = check_embeddings(xb, None, "xb")
        if len(xb) == 0:
            raise DataError(f"Expected a non-empty catalogue. Received: xb.shape={xb.shape}")
        ids = check_ids(ids, len(xb), None)
        meta = check_metadata(metadata, len(xb))
        xn = self._normalised(xb, "xb")
        start = time.perf_counter()
        factory = self.config.factory or default_factory(*xb.shape)
        index = make_index(factory, xb.shape[1], self.config.metric, self.config.ef_construction)
        empty = None
        if not index.is_trained:
            train(index, xn, self.config.train_size, self.config.seed)
            empty = faiss.serialize_index(index)
        index.add(xn)
        table = Table(xb.shape[1], id_kind(ids), capacity=len(xb))
        table.append(xb, ids, meta)
        self._set_state(index, factory, table, empty)
        logger.info(
            "Built %s (%s, %s) over %d items in %.1fs",
            factory, self.kind, self.config.metric, len(xb), time.perf_counter() - start,
        )
        return self

    def add(
        self, xb: npt.ArrayLike, ids: Sequence[Any] | npt.ArrayLike, metadata: Sequence[Any] | None = None
    ) -> None:
        """Add new items; an id already in the index is an error (use `upsert` to replace)."""
        table = self._built()
        xb = check_embeddings(xb, table.d, "xb")
        ids = check_ids(ids, len(xb), table.kind)
        existing = [v for v in ids.tolist() if v in table.key_of]
        if existing:
            raise DuplicateIdError(
                "Expected ids not in the index yet (upsert replaces items). Received: "
                f"{len(existing)} existing, first {existing[:5]}"
            )
        meta = check_metadata(metadata, len(xb))
        xn = self._normalised(xb, "xb")
        if len(xb):
            self._append(xb, xn, ids, meta)

    def upsert(
        self, xb: npt.ArrayLike, ids: Sequence[Any] | npt.ArrayLike, metadata: Sequence[Any] | None = None
    ) -> None:
        """Add items, replacing those whose id is already in the index.

        `metadata=None` keeps the metadata of replaced items; pass a list to set it.
        """
        table = self._built()
        xb = check_embeddings(xb, table.d, "xb")
        ids = check_ids(ids, len(xb), table.kind)
        meta = check_metadata(metadata, len(xb))
        xn = self._normalised(xb, "xb")
        if not len(xb):
            return
        old = np.array([table.key_of.get(v, -1) for v in ids.tolist()], np.int64)
        if meta is None and (old >= 0).any():
            meta = np.array([table.metadata[key] if key >= 0 else None for key in old], dtype=object)
        self._append(xb, xn, ids, meta, replaced=old[old >= 0])
        self._maybe_compact()

    def delete(self, ids: Sequence[Any] | npt.ArrayLike) -> None:
        """Delete items by catalogue id; an id not in the index is an error naming it."""
        table = self._built()
        keys = table.keys_of(check_ids(ids, None, table.kind))
        if not len(keys):
            return
        table.kill(keys)
        self._invalidate()
        self._maybe_compact()

    def compact(self) -> None:
        """Rebuild the FAISS index from the live embeddings, dropping tombstones.

        Reuses the trained quantizer/codebooks; an HNSW graph is rebuilt, which is the slow case.
        """
        table = self._built()
        start, dead = time.perf_counter(), table.n_dead
        fresh = self._empty_index()
        keys = table.live_keys()
        if len(keys):
            fresh.add(self._normalised(table.embeddings[keys], "xb"))
        self._set_state(fresh, self.factory_, table.compacted(), self._empty)
        logger.info("Compacted %s: dropped %d tombstones in %.1fs", self.factory_, dead,
                    time.perf_counter() - start)

    # ---- reading ----------------------------------------------------------------------------

    def search(
        self,
        xq: npt.ArrayLike,
        k: int,
        params: SearchParams | None = None,
        where: RowFilter | None = None,
    ) -> Neighbors:
        """Return the `k` nearest live items of each query row of `xq` `(nq, d)`.

        Args:
            where: a metadata filter (`simsearch.search.Where`): only items it allows are
                returned, the `k` nearest of them (see `simsearch.index.allowed`).

        Returns:
            `Neighbors(distances (nq, k) float32, ids (nq, k))`, nearest first; slots beyond the
            number of live (allowed) items are empty (distance `inf`, id `-1` or `None`).
        """
        table, D, I = self._top_k(xq, k, params, where)
        return Neighbors(to_distances(D, I, self.config.metric), table.ids_at(I))

    def find(
        self, xq: npt.ArrayLike, k: int, params: SearchParams | None = None, where: RowFilter | None = None
    ) -> Found:
        """`search`, with each hit's stored metadata (JSON text) gathered in the same pass.

        Returns:
            `Found(distances, ids, metadata)`, `(nq, k)` each; empty slots have distance `inf`,
            id `-1` or `None` and metadata `None`.
        """
        table, D, I = self._top_k(xq, k, params, where)
        if I.size and I.min() >= 0:  # no empty slot: the arrays need no mask
            return Found(full_distances(D, self.config.metric), table.ids[I], table.metadata[I])
        return Found(to_distances(D, I, self.config.metric), table.ids_at(I), table.metadata_at(I))

    def _top_k(
        self, xq: npt.ArrayLike, k: int, params: SearchParams | None, where: RowFilter | None
    ) -> tuple[Table, npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """The table and FAISS's distances and labels of the `k` nearest live (allowed) items."""
        table = self._built()
        k = check_k(k)
        xq = self._queries(xq)
        if where is None:
            return table, *self._knn(xq, k, self._search_params(params))
        return table, *self._filtered_knn(xq, k, self._search_params(params), self.allowed(where))

    def range_search(
        self,
        xq: npt.ArrayLike,
        radius: float,
        params: SearchParams | None = None,
        where: RowFilter | None = None,
    ) -> list[Neighbors]:
        """Return, per query row, every live item within distance `radius`, nearest first.

        Flat and IVF kinds use FAISS's range search (IVF within the `nprobe` lists visited).
        FAISS's HNSW range search is capped by `efSearch`, so HNSW kinds widen a k-NN search
        instead: k = 64, 256, 1024, ... until the k-th neighbour lies beyond `radius`. With
        `where`, only the items it allows are returned.
        """
        table = self._built()
        radius = check_radius(radius)
        xq = self._queries(xq)
        params = self._search_params(params)
        if table.n_live == 0 or len(xq) == 0:
            rows: list[tuple[Any, Any]] = [(np.zeros(0, np.float32), np.zeros(0, np.int64))] * len(xq)
        elif isinstance(base_index(self.index_), faiss.IndexHNSW):
            rows = self._range_by_widening(xq, radius, params)
        else:
            rows = self._range_native(xq, radius, params)
        if where is not None:
            mask = self.allowed(where).mask
            rows = [(dist[mask[keys]], keys[mask[keys]]) for dist, keys in rows]
        return [Neighbors(dist, table.ids_at(keys)) for dist, keys in rows]

    def get(self, ids: Sequence[Any] | npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Return the `(len(ids), d) float32` embeddings of items, exactly as added."""
        table = self._built()
        return table.embeddings[table.keys_of(check_ids(ids, None, table.kind, unique=False))]

    def metadata(self, ids: Sequence[Any] | npt.ArrayLike) -> list[Any]:
        """Return the metadata of items (`None` where none was given)."""
        table = self._built()
        keys = table.keys_of(check_ids(ids, None, table.kind, unique=False))
        return [None if text is None else json.loads(text) for text in table.metadata[keys]]

    def fields(self) -> Fields:
        """The items' metadata as columns, one row per FAISS key (tombstones included), parsed
        once and extended as items are added."""
        return self._built().fields()

    def allowed(self, where: RowFilter) -> Allowed:
        """The live rows `where` allows (its mask over `fields()`), cached until the next update."""
        table = self._built()
        return self._allowed.get(where, table.fields(), table.live[: table.n])

    def allowed_ids(self, where: RowFilter) -> IdArray:
        """Catalogue ids of the live items `where` allows, in insertion order."""
        table = self._built()
        return table.ids[self.allowed(where).keys]

    @property
    def metric(self) -> str:
        return self.config.metric

    @property
    def dim(self) -> int:
        return self._built().d

    @property
    def kind(self) -> str:
        """The FAISS class of the index, e.g. `"IndexIVFFlat"`; a flat index is named by its metric
        (`IndexFlatIP` / `IndexFlatL2`), as it reads back from disk, also when built in memory."""
        index = faiss.downcast_index(self._built_index())
        if type(index) is faiss.IndexFlat:
            return "IndexFlatIP" if index.metric_type == faiss.METRIC_INNER_PRODUCT else "IndexFlatL2"
        return type(index).__name__

    @property
    def id_kind(self) -> str:
        """`"int"` (int64 ids) or `"str"`: fixed at `build`."""
        return self._built().kind

    @property
    def ids(self) -> IdArray:
        """Catalogue ids of the live items, in insertion order."""
        table = self._built()
        return table.ids[table.live_keys()]

    @property
    def n_tombstones(self) -> int:
        return self._built().n_dead

    def __len__(self) -> int:
        table = getattr(self, "_table", None)
        return 0 if table is None else table.n_live

    def __contains__(self, item: Any) -> bool:
        table = getattr(self, "_table", None)
        return table is not None and item in table.key_of

    def __repr__(self) -> str:
        factory = getattr(self, "factory_", self.config.factory)
        return f"FaissIndex(metric={self.metric!r}, factory={factory!r}, items={len(self)})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sel": None, "_params": {}}  # FAISS selectors cannot be pickled

    # ---- internals --------------------------------------------------------------------------

    def _set_state(self, index: Any, factory: str, table: Table, empty: Any) -> None:
        self.index_ = index
        self.factory_ = factory
        self._table = table
        self._empty = empty
        self._params_ok = None
        self._invalidate()

    def _invalidate(self) -> None:
        """Forget the selector and the search parameters that use it (the live set changed)."""
        self._sel = None
        self._params = {}
        self._allowed = AllowedCache()

    def _search_params(self, params: Any) -> SearchParams:
        if params is None:
            return self.search_defaults
        if not isinstance(params, SearchParams):
            raise ConfigError(f"Expected params as SearchParams. Received: {type(params).__name__}")
        return params

    def _built(self) -> Table:
        table = getattr(self, "_table", None)
        if table is None:
            raise NotBuiltError("Expected a built FaissIndex; call build(xb, ids) first. Received: "
                                "an index with no content")
        return table

    def _built_index(self) -> Any:
        self._built()
        return self.index_

    def _normalised(self, x: npt.NDArray[np.float32], name: str) -> npt.NDArray[np.float32]:
        return unit_rows(x, name) if self.config.metric == "cosine" else x

    def _queries(self, xq: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Queries checked (finite, `(nq, d)`) and, for cosine, normalised."""
        return query_rows(xq, self._built().d, self.config.metric)

    def _append(
        self,
        xb: npt.NDArray[np.float32],
        xn: npt.NDArray[np.float32],
        ids: IdArray,
        meta: npt.NDArray[np.object_] | None,
        replaced: npt.NDArray[np.int64] | None = None,
    ) -> None:
        self.index_.add(xn)  # first: if FAISS fails, nothing else has changed
        if replaced is not None and len(replaced):
            self._table.kill(replaced)
        self._table.append(xb, ids, meta)
        self._invalidate()

    def _maybe_compact(self) -> None:
        table = self._table
        if table.n_dead > self.config.max_tombstones * table.n:
            self.compact()

    def _empty_index(self) -> Any:
        if self._empty is not None:
            return faiss.deserialize_index(self._empty)
        index = make_index(self.factory_, self._table.d, self.config.metric, self.config.ef_construction)
        if index.is_trained:
            return index
        index = faiss.clone_index(self.index_)  # loaded from disk: keep its training
        index.reset()
        self._empty = faiss.serialize_index(index)
        return index

    def _selector(self) -> tuple[Any, Any] | None:
        """Return a FAISS selector of live keys with the bitmap it points to, or `None` when there
        are no tombstones.

        Concurrent searches may each build one; every holder (a search, the params cache) keeps
        its own bitmap alive, so a selector never points to freed memory.
        """
        table = self._table
        if table.n_dead == 0:
            return None
        sel = self._sel
        if sel is None:
            sel = self._sel = live_selector(table.live[: table.n])
        return sel

    def _faiss_params(self, params: SearchParams, k: int, sel: tuple[Any, Any] | None) -> Any:
        if self._params_ok is None:
            self._params_ok = self._accepts_params()
        if not self._params_ok:
            return None
        key = (params.nprobe, params.ef_search, k)
        cached = self._params.get(key)
        if cached is None:
            cached = self._params[key] = (
                search_parameters(self.index_, *key, None if sel is None else sel[0]),
                sel,
            )
        return cached[0]

    def _accepts_params(self) -> bool:
        sel, _bitmap = live_selector(np.ones(1, bool))
        probe = search_parameters(self.index_, 1, 16, 1, sel)
        try:
            self.index_.search(np.zeros((1, self._table.d), np.float32), 1, params=probe)
        except RuntimeError:
            logger.info("%s takes no search parameters: tombstones are filtered after search",
                        self.kind)
            return False
        return True

    def _knn(
        self, xq: npt.NDArray[np.float32], k: int, params: SearchParams
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Return FAISS scores `D` and keys `I` `(nq, k)` of the live k-NN of normalised `xq`."""
        table = self._table
        want = min(k, table.n_live)
        if want == 0 or len(xq) == 0:
            return np.zeros((len(xq), k), np.float32), np.full((len(xq), k), -1, np.int64)
        sel = self._selector()
        faiss_params = self._faiss_params(params, k, sel)
        fetch = k
        if sel is not None and faiss_params is None:  # no selector: fetch more, drop tombstones
            fetch = max(k, min(table.n, 2 * math.ceil(k * table.n / table.n_live) + 16))
        D, I = faiss_search(self.index_, xq, fetch, faiss_params)
        if sel is not None:
            D, I = keep_live(D, I, table.live, k)
        if I[:, want - 1].min() < 0:  # FAISS puts empty slots last
            short = np.flatnonzero(I[:, want - 1] < 0)
            logger.debug("%d query rows short of %d results: answered exactly", short.size, want)
            D[short], I[short] = self._exact_knn(xq[short], k)
        return D, I

    def _filtered_knn(
        self, xq: npt.NDArray[np.float32], k: int, params: SearchParams, allowed: Allowed
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Return FAISS scores and keys of the k-NN among the `allowed` rows: exact, inside an
        IDSelector, or over-fetched and widened (`simsearch.index.allowed`)."""
        table, count = self._table, allowed.count
        flat = isinstance(base_index(self.index_), faiss.IndexFlat)  # exact anyway: scan only them
        if flat or count * table.d <= EXACT_BUDGET or len(xq) == 0:
            return self._exact_knn(xq, k, allowed.keys)
        if self._params_ok is None:
            self._params_ok = self._accepts_params()
        if count < SELECTIVE * table.n_live and self._params_ok:
            sel = allowed.selector()
            D, I = self.index_.search(
                xq, k, params=search_parameters(self.index_, params.nprobe, params.ef_search, k, sel)
            )
        else:
            D, I = self._widened_knn(xq, k, params, allowed)
        short = np.flatnonzero(I[:, min(k, count) - 1] < 0)
        if short.size:
            logger.debug("%d filtered query rows short of %d results: answered exactly", short.size, k)
            D[short], I[short] = self._exact_knn(xq[short], k, allowed.keys)
        return D, I

    def _widened_knn(
        self, xq: npt.NDArray[np.float32], k: int, params: SearchParams, allowed: Allowed
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Fetch `k / share allowed` and more, 4x more each round, until `k` of each row pass or
        the whole index was fetched; rows still short keep empty slots."""
        n_live, want = self._table.n_live, min(k, allowed.count)
        D = np.zeros((len(xq), k), np.float32)
        I = np.full((len(xq), k), -1, np.int64)
        todo, fetch = np.arange(len(xq)), min(n_live, 2 * math.ceil(k * n_live / allowed.count) + 16)
        while todo.size:
            D[todo], I[todo] = keep_live(*self._knn(xq[todo], max(k, fetch), params), allowed.mask, k)
            done = (I[todo, want - 1] >= 0) | (fetch >= n_live)
            todo, fetch = todo[~done], min(n_live, 4 * fetch)
        return D, I

    def _exact_knn(
        self, xq: npt.NDArray[np.float32], k: int, keys: npt.NDArray[np.int64] | None = None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """The exact k-NN among `keys` (default: every live key)."""
        keys = self._table.live_keys() if keys is None else keys
        xb = self._normalised(self._table.embeddings[keys], "xb")
        kk = min(k, len(keys))
        D = np.zeros((len(xq), k), np.float32)
        I = np.full((len(xq), k), -1, np.int64)
        D[:, :kk], found = faiss.knn(xq, xb, kk, metric=faiss_metric(self.config.metric))
        I[:, :kk] = np.where(found >= 0, keys[np.maximum(found, 0)], -1)
        return D, I

    def _range_native(
        self, xq: npt.NDArray[np.float32], radius: float, params: SearchParams
    ) -> list[tuple[Any, Any]]:
        table = self._table
        sel = self._selector()
        faiss_params = self._faiss_params(params, 1, sel)
        threshold = to_threshold(radius, self.config.metric)
        try:
            lims, D, I = self.index_.range_search(xq, threshold, params=faiss_params)
        except RuntimeError:
            logger.info("%s has no range search: widening a k-NN search instead", self.kind)
            return self._range_by_widening(xq, radius, params)
        dist = to_distances(D, I, self.config.metric)
        keep = (dist <= radius) & table.live[I]
        rows = []
        for q in range(len(xq)):
            part = slice(lims[q], lims[q + 1])
            d_q, i_q = dist[part][keep[part]], I[part][keep[part]]
            order = np.argsort(d_q, kind="stable")
            rows.append((d_q[order], i_q[order]))
        return rows

    def _range_by_widening(
        self, xq: npt.NDArray[np.float32], radius: float, params: SearchParams
    ) -> list[tuple[Any, Any]]:
        n_live = self._table.n_live
        rows: list[tuple[Any, Any]] = [None] * len(xq)  # type: ignore[list-item]
        todo, k = np.arange(len(xq)), min(n_live, 64)
        while todo.size:
            D, I = self._knn(xq[todo], k, params)
            dist = to_distances(D, I, self.config.metric)
            more = (dist[:, -1] <= radius) & (k < n_live)
            for j in np.flatnonzero(~more):
                keep = dist[j] <= radius
                rows[todo[j]] = (dist[j][keep], I[j][keep])
            todo, k = todo[more], min(n_live, 4 * k)
        return rows

    def _to_items(self) -> StoredItems:
        """Return the live items with their FAISS keys, for `items.h5`."""
        table = self._built()
        keys = table.live_keys()
        return StoredItems(
            table.embeddings[keys], table.ids[keys], table.metadata[keys], keys, self.metric
        )

    @classmethod
    def _restore(cls, config: IndexConfig, factory: str, index: Any, items: StoredItems) -> FaissIndex:
        """Return an index from its saved parts (see `simsearch.index.directory`)."""
        kind = "int" if items.id_type == "int64" else "str"
        table = Table.from_rows(
            index.ntotal, items.keys, items.embeddings, items.ids, items.metadata, kind
        )
        self = cls(config)
        self._set_state(index, factory, table, None)
        return self
