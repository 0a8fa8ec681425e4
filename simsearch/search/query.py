"""`Query`: the settings of one search, validated once, the same for every way in.

The engine (`SearchEngine.search`), the server (`IndexService.search`, whose micro-batches group
equal queries) and the CLI (`simsearch query`) each build a `Query` and hand it to `Searcher.run`,
the one place that acts on them. A query's inputs (vectors, catalogue ids, raw items) are not
part of it: a `Query` is what is asked, and is hashable.

Example:
>>> Query(k=5, rerank=50)                          # top 5, the 50 nearest re-ranked by the head
>>> Query(radius=0.3, params=SearchParams(nprobe=64))
>>> Query(k=5, rerank=50, reranker="cross", fusion=True)  # by a cross-encoder, fused with distance
>>> Query(k=5, filter={"shop": "b", "price": {"$lt": 20}})  # only items whose metadata pass
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError
from simsearch.index.config import SearchParams
from simsearch.index.fields import Fields
from simsearch.search.where import Where
from simsearch.validation import check_radius

__all__ = ["MAX_K", "RERANKERS", "Filter", "Query"]

MAX_K = 10_000  # the largest k and re-rank depth a query may ask for
RERANKERS = ("head", "cross")


class Filter(Protocol):
    """Which items a query may return, from their metadata: `Where` (`search/where.py`) is the
    package's. A filter is hashable, so equal queries still compare equal and batch together in
    the server, and the index caches its mask until the next update; `Searcher` passes it to the
    index, which returns the `k` nearest items it allows (`FaissIndex.search(..., where=...)`).
    """

    def mask(self, fields: Fields) -> npt.NDArray[np.bool_]:
        """Return the `(fields.n,)` mask of the index's rows that pass."""
        ...

    def __hash__(self) -> int: ...


@dataclass(frozen=True)
class Query:
    """What one search asks for (the queries themselves come apart: vectors, ids or items).

    Args:
        k: hits per query, nearest (or best re-ranked) first.
        radius: return every item within this distance instead of the top `k` (`k` is then
            unused; `rerank` still applies).
        rerank: how many of the nearest hits the re-ranker re-scores (0: none, distance order).
        reranker: what re-scores them: `"head"` (the siamese model's pairwise head, on the
            embeddings) or `"cross"` (a cross-encoder, on the query's and the hits' texts).
        fusion: fuse the cross-encoder's score with the tower's distance (`"cross"` only; its
            fusion weights must have been fitted with the model that encoded the index).
        params: query-time FAISS settings (`nprobe`, `ef_search`).
        exclude_self: leave each catalogue-id query's own item out of its hits.
        filter: only return items whose metadata pass it: a `Filter` (`Where`), or a JSON
            `where` (`{"shop": "b", "price": {"$lt": 20}}`), compiled to a `Where`; an empty
            one is None.

    With `rerank=0` nothing is re-ranked, so `reranker` and `fusion` are reset to their
    defaults: equal searches are equal queries.

    Raises:
        ConfigError: k or rerank not an integer in range, an unknown reranker, fusion without
            the cross-encoder, params that are not `SearchParams`, a filter that is no `Filter`.
        FilterError: a malformed JSON `where`.
        DataError: a radius that is not a number from 0 to float32's largest.
    """

    k: int = 10
    radius: float | None = None
    rerank: int = 0
    reranker: Literal["head", "cross"] = "head"
    fusion: bool = False
    params: SearchParams | None = None
    exclude_self: bool = True
    filter: Filter | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", _count(self.k, "k", 1))
        object.__setattr__(self, "rerank", _count(self.rerank, "rerank", 0))
        if self.radius is not None:
            object.__setattr__(self, "radius", check_radius(self.radius))
        if self.reranker not in RERANKERS:
            raise ConfigError(f"Expected reranker in {list(RERANKERS)}. Received: reranker={self.reranker!r}")
        if self.fusion and self.reranker != "cross":
            raise ConfigError(
                f"Expected fusion with reranker='cross' (it fuses the cross-encoder's score). Received: "
                f"reranker={self.reranker!r}"
            )
        if self.params is not None and not isinstance(self.params, SearchParams):
            raise ConfigError(f"Expected params as SearchParams. Received: {type(self.params).__name__}")
        object.__setattr__(self, "filter", _filter(self.filter))
        if not self.rerank:
            object.__setattr__(self, "reranker", "head")
            object.__setattr__(self, "fusion", False)

    @property
    def mode(self) -> Literal["none", "head", "cross"]:
        """How hits are ordered: `"none"` (by distance), `"head"` or `"cross"` (re-ranked)."""
        return self.reranker if self.rerank else "none"


def _filter(value: Any) -> Filter | None:
    if isinstance(value, Mapping):
        return Where.parse(value) if value else None
    if value is None or isinstance(value, Where):
        return value
    if not callable(getattr(value, "mask", None)) or getattr(type(value), "__hash__", None) is None:
        raise ConfigError(
            "Expected filter as a JSON where (a dict), a Where or a hashable object with "
            f"mask(fields). Received: {type(value).__name__}"
        )
    return value


def _count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= MAX_K:
        raise ConfigError(f"Expected {low} <= {name} <= {MAX_K}. Received: {name}={value!r}")
    return int(value)
