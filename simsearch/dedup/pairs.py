"""`DuplicatePairs`: the pairs a duplicate search found, as parallel arrays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from simsearch.errors import DataError
from simsearch.index.checks import IdArray, check_ids

__all__ = ["DuplicatePairs", "Pair"]


class Pair(NamedTuple):
    """One row of `DuplicatePairs`, as Python scalars (`score` is None when not re-scored)."""

    left_id: Any
    right_id: Any
    distance: float
    score: float | None


@dataclass(frozen=True, eq=False)
class DuplicatePairs:
    """Pairs of catalogue items, one per row of parallel `(n,)` arrays.

    Attributes:
        left_ids: `(n,)` ids (int64, or object holding str) of the left items; lists are converted.
        right_ids: `(n,)` ids of the right items.
        distances: `(n,) float32` distances under the index's metric (lower = more similar).
        scores: `(n,) float32` P(same) from `score_pairs` (higher = more similar), or None when the
            pairs were not re-scored.

    Example:
    >>> pairs = find_duplicates(index, PairFilter(k=10, max_distance=0.05))
    >>> len(pairs), pairs.left_ids[:3], pairs.distances[:3]
    >>> for left, right, distance, score in pairs: ...
    """

    left_ids: IdArray
    right_ids: IdArray
    distances: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        for name in ("left_ids", "right_ids"):
            object.__setattr__(self, name, _ids(getattr(self, name), name))
        object.__setattr__(self, "distances", np.asarray(self.distances, np.float32))
        if self.scores is not None:
            object.__setattr__(self, "scores", np.asarray(self.scores, np.float32))
        columns = {"left_ids": self.left_ids, "right_ids": self.right_ids, "distances": self.distances}
        if self.scores is not None:
            columns["scores"] = self.scores
        shapes = {name: np.shape(column) for name, column in columns.items()}
        if len(set(shapes.values())) != 1 or len(shapes["left_ids"]) != 1:
            raise DataError(f"Expected parallel (n,) arrays. Received: shapes {shapes}")

    @classmethod
    def empty(cls, id_dtype: Any = np.int64, scored: bool = False) -> DuplicatePairs:
        """Return no pairs, with ids of `id_dtype` (int64, or object for str ids)."""
        ids = np.empty(0, id_dtype)
        return cls(ids, ids.copy(), np.empty(0, np.float32), np.empty(0, np.float32) if scored else None)

    def __len__(self) -> int:
        return len(self.left_ids)

    def __iter__(self) -> Iterator[Pair]:
        """Yield each row as a `Pair` of Python scalars."""
        scores = self.scores.tolist() if self.scores is not None else [None] * len(self)
        rows = zip(
            self.left_ids.tolist(), self.right_ids.tolist(), self.distances.tolist(), scores, strict=True
        )
        for left, right, distance, score in rows:
            yield Pair(left, right, distance, score)

    def select(self, rows: npt.ArrayLike) -> DuplicatePairs:
        """Return the rows picked by `rows`: a boolean mask or integer positions."""
        rows = np.asarray(rows)
        return DuplicatePairs(
            self.left_ids[rows],
            self.right_ids[rows],
            self.distances[rows],
            None if self.scores is None else self.scores[rows],
        )

    def __repr__(self) -> str:
        return f"DuplicatePairs(n={len(self)}, scored={self.scores is not None})"


def _ids(values: Any, name: str) -> IdArray:
    """Return ids as `(n,) int64` or object (str); an empty array keeps its kind."""
    if isinstance(values, np.ndarray) and values.size == 0:
        return np.empty(0, object if values.dtype.kind in "OUS" else np.int64)
    return check_ids(values, None, None, name, unique=False)
