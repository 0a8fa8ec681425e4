"""`Allowed`: the live rows a filter lets a search return, and how a filtered search runs.

A filtered k-NN search (`FaissIndex.search(..., where=...)`) takes one of three ways, chosen from
the exact number of allowed items (the filter's mask is computed over every row, so nothing is
estimated):

- few allowed (`count * d <= EXACT_BUDGET`), or a Flat index: exact search over the allowed
  embeddings, cheaper than any index at that size, and than a Flat scan of every item (FAISS's
  Flat search with a selector checks every id and leaves the BLAS path);
- selective (`count < SELECTIVE * n_live`): FAISS searches inside the allowed rows through an
  `IDSelector` in its `SearchParameters` (Flat, IVF and HNSW take one);
- permissive: an unfiltered search fetching `k * n_live / count` and more, widened 4x until `k`
  pass or the whole index was fetched.

Rows any way leaves short of `min(k, count)` (an IVF's probed lists, an HNSW walk holding too few
allowed items) are answered exactly over the allowed rows, as unfiltered short rows are.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.index.faiss_ops import live_selector
from simsearch.index.fields import Fields, RowFilter

__all__ = ["EXACT_BUDGET", "MAX_CACHED", "SELECTIVE", "Allowed", "AllowedCache"]

# Exact search over the allowed rows while one query costs at most this many multiply-adds
# (8k items at d=128): below it, FAISS's own search costs more than the scan.
EXACT_BUDGET = 1 << 20
# Search inside the allowed rows (IDSelector) below this share of the live items; above it an
# over-fetching search finds k allowed ones within a few times k candidates.
SELECTIVE = 0.2
MAX_CACHED = 64  # filters whose masks an index keeps (LRU)


@dataclass
class Allowed:
    """The rows a filter allows: `mask` `(n,) bool` over every key (tombstones False), `keys` the
    allowed keys ascending, and the FAISS selector of them, made on first use."""

    mask: npt.NDArray[np.bool_]
    keys: npt.NDArray[np.int64]
    _selector: tuple[Any, Any] | None = None

    @classmethod
    def of(cls, where: RowFilter, fields: Fields, live: npt.NDArray[np.bool_]) -> Allowed:
        mask = np.asarray(where.mask(fields), bool) & live
        return cls(mask, np.flatnonzero(mask).astype(np.int64))

    @property
    def count(self) -> int:
        return len(self.keys)

    def selector(self) -> Any:
        """A FAISS `IDSelectorBitmap` of the allowed keys (it holds the bitmap alive with it)."""
        if self._selector is None:
            self._selector = live_selector(self.mask)
        return self._selector[0]


class AllowedCache:
    """The `Allowed` rows of the last `MAX_CACHED` filters, for one version of an index."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Any, Allowed] = OrderedDict()
        self._lock = threading.Lock()  # concurrent searches share it

    def __reduce__(self) -> tuple[type[AllowedCache], tuple[()]]:
        return AllowedCache, ()  # copied or pickled empty: FAISS selectors cannot be

    def get(self, where: RowFilter, fields: Fields, live: npt.NDArray[np.bool_]) -> Allowed:
        with self._lock:
            found = self._entries.get(where)
            if found is not None:
                self._entries.move_to_end(where)
                return found
        found = Allowed.of(where, fields, live)
        with self._lock:
            self._entries[where] = found
            while len(self._entries) > MAX_CACHED:
                self._entries.popitem(last=False)
        return found
