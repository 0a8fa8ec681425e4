"""`Table`: what the index keeps beside FAISS, one row per FAISS label ("key").

FAISS numbers the vectors it holds 0, 1, 2, ... in the order they were added; row `key` of every
array here describes FAISS label `key`: its catalogue id, its embedding as given (before any
normalisation), its metadata as JSON text, and whether it is live or a tombstone. Deleting an item
only clears its `live` flag; `compacted` drops tombstones and renumbers keys.

The arrays grow by doubling, so adding items one at a time stays linear.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import UnknownIdError
from simsearch.index.checks import IdArray, missing_id
from simsearch.index.fields import Fields

__all__ = ["Table"]


class Table:
    """Per-key catalogue ids, embeddings, metadata and live flags of a `FaissIndex`."""

    def __init__(self, d: int, kind: str, capacity: int = 0) -> None:
        self.d = d
        self.kind = kind
        self.n = 0
        self.embeddings = np.zeros((capacity, d), np.float32)
        self.ids: IdArray = np.full(capacity, missing_id(kind), np.int64 if kind == "int" else object)
        self.metadata: npt.NDArray[np.object_] = np.full(capacity, None, object)
        self.live = np.zeros(capacity, bool)
        self.key_of: dict[Any, int] = {}
        self._fields = Fields()

    @classmethod
    def from_rows(
        cls,
        n: int,
        keys: npt.NDArray[np.int64],
        embeddings: npt.NDArray[np.float32],
        ids: IdArray,
        metadata: npt.NDArray[np.object_],
        kind: str,
    ) -> Table:
        """Return a table of `n` keys whose live rows are `keys`; the others are tombstones."""
        table = cls(embeddings.shape[1], kind, capacity=n)
        table.n = n
        table.embeddings[keys] = embeddings
        table.ids[keys] = ids
        table.metadata[keys] = metadata
        table.live[keys] = True
        table.key_of = dict(zip(ids.tolist(), keys.tolist(), strict=True))
        return table

    @property
    def n_live(self) -> int:
        return len(self.key_of)

    @property
    def n_dead(self) -> int:
        return self.n - len(self.key_of)

    def append(
        self, xb: npt.NDArray[np.float32], ids: IdArray, metadata: npt.NDArray[np.object_] | None
    ) -> None:
        """Add rows for FAISS labels `n .. n + len(xb) - 1`."""
        start, stop = self.n, self.n + len(xb)
        self._reserve(stop)
        self.embeddings[start:stop] = xb
        self.ids[start:stop] = ids
        self.metadata[start:stop] = metadata if metadata is not None else None
        self.live[start:stop] = True
        self.key_of.update(zip(ids.tolist(), range(start, stop), strict=True))
        self.n = stop

    def kill(self, keys: npt.NDArray[np.int64]) -> None:
        """Turn rows into tombstones."""
        for value in self.ids[keys].tolist():
            del self.key_of[value]
        self.live[keys] = False
        self.ids[keys] = missing_id(self.kind)

    def keys_of(self, ids: IdArray, name: str = "ids") -> npt.NDArray[np.int64]:
        """Return the keys of live catalogue ids; `DataError` naming the unknown ones."""
        values = ids.tolist()
        unknown = [v for v in values if v not in self.key_of]
        if unknown:
            raise UnknownIdError(
                f"Expected {name} of items in the index. Received: {len(unknown)} unknown, "
                f"first {unknown[:5]}"
            )
        return np.fromiter((self.key_of[v] for v in values), np.int64, len(values))

    def fields(self) -> Fields:
        """The metadata of keys `0 .. n - 1` as columns, parsed once: rows are only appended (a
        deleted item's row stays as a tombstone), so only rows added since the last call are."""
        fields = self._fields
        if fields.n != self.n:
            fields = self._fields = fields.extended(self.metadata[fields.n : self.n])
        return fields

    def live_keys(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(self.live[: self.n]).astype(np.int64)

    def ids_at(self, keys: npt.NDArray[np.int64]) -> IdArray:
        """Map FAISS labels to catalogue ids; label -1 (an empty slot) maps to the missing mark."""
        if not keys.size or keys.min() >= 0:
            return self.ids[keys]
        hit = keys >= 0
        out = np.full(keys.shape, missing_id(self.kind), dtype=self.ids.dtype)
        out[hit] = self.ids[keys[hit]]
        return out

    def metadata_at(self, keys: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
        """Map FAISS labels to their metadata's JSON text; label -1 (an empty slot) maps to None."""
        if keys.size and keys.min() >= 0:
            return self.metadata[keys]
        out = np.full(keys.shape, None, dtype=object)
        hit = keys >= 0
        out[hit] = self.metadata[keys[hit]]
        return out

    def compacted(self) -> Table:
        """Return a table of the live rows only, renumbered 0 .. n_live - 1 in key order."""
        keys = self.live_keys()
        table = Table(self.d, self.kind, capacity=len(keys))
        table.append(self.embeddings[keys], self.ids[keys], self.metadata[keys])
        return table

    def _reserve(self, size: int) -> None:
        capacity = len(self.live)
        if size <= capacity:
            return
        capacity = max(size, 2 * capacity)
        self.embeddings = _grown(self.embeddings, capacity, 0)
        self.ids = _grown(self.ids, capacity, missing_id(self.kind))
        self.metadata = _grown(self.metadata, capacity, None)
        self.live = _grown(self.live, capacity, False)


def _grown(arr: npt.NDArray[Any], capacity: int, fill: Any) -> npt.NDArray[Any]:
    out = np.full((capacity, *arr.shape[1:]), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out
