"""`Fields`: the items' metadata as columns, one per top-level field, for metadata filters.

An index keeps each item's metadata as JSON text (`items.h5`, `FaissIndex.metadata`). A filter
(`where={"shop": "b", "price": {"$lt": 20}}`) is evaluated over every item at once, so the text is
parsed once into columns and kept with the index: per field, its numbers as float64 (NaN where the
item's value is no number), its strings as int32 codes into a vocabulary (-1 where none), its
booleans as int8 (-1 where none). JSON `true` is a boolean, never the number 1. Lists, objects and
null are kept only as present (`types` says "other"): no operator compares them.

Rows are FAISS keys, as in the index's table; keys are only ever appended (a deleted item keeps its
row as a tombstone), so `extended` parses only the rows added since.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Column", "Fields", "RowFilter"]


class RowFilter(Protocol):
    """A filter over an index's rows: hashable, so its mask can be cached per index version."""

    def mask(self, fields: Fields) -> npt.NDArray[np.bool_]:
        """Return the `(fields.n,)` mask of the rows that pass."""
        ...

    def __hash__(self) -> int: ...


@dataclass
class Column:
    """One field's values over the rows (see the module docstring).

    Args:
        numbers: `(n,) float64`, NaN where the value is not a number.
        codes: `(n,) int32` index into `vocab`, -1 where the value is not a string.
        bools: `(n,) int8` 0 or 1, -1 where the value is not a boolean.
        vocab: string -> code.
        types: the JSON types held: `"number"`, `"string"`, `"bool"`, `"other"` (list, object, null).
    """

    numbers: npt.NDArray[np.float64]
    codes: npt.NDArray[np.int32]
    bools: npt.NDArray[np.int8]
    vocab: dict[str, int] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)

    @classmethod
    def empty(cls, n: int) -> Column:
        return cls(np.full(n, np.nan), np.full(n, -1, np.int32), np.full(n, -1, np.int8))

    def grown(self, n: int) -> Column:
        """This column over `n >= len` rows, the new ones holding no value."""
        extra = Column.empty(n - len(self.numbers))
        return Column(
            np.concatenate([self.numbers, extra.numbers]),
            np.concatenate([self.codes, extra.codes]),
            np.concatenate([self.bools, extra.bools]),
            dict(self.vocab),
            set(self.types),
        )

    def set(self, rows: Sequence[int], values: Sequence[Any]) -> None:
        """Store `values` at `rows`."""
        for row, value in zip(rows, values, strict=True):
            if isinstance(value, bool):
                self.bools[row] = value
                self.types.add("bool")
            elif isinstance(value, (int, float)) and math.isfinite(number := _float(value)):
                self.numbers[row] = number
                self.types.add("number")
            elif isinstance(value, str):
                self.codes[row] = self.vocab.setdefault(value, len(self.vocab))
                self.types.add("string")
            else:
                self.types.add("other")


def _float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond float64: no number to compare
        return math.nan


@dataclass
class Fields:
    """The metadata of rows `0 .. n - 1` as `Column`s by field name."""

    n: int = 0
    columns: dict[str, Column] = field(default_factory=dict)

    @classmethod
    def from_json(cls, texts: Sequence[str | None] | npt.NDArray[np.object_]) -> Fields:
        """Parse per-row JSON texts (None: no metadata) into columns."""
        return cls().extended(texts)

    def extended(self, texts: Sequence[str | None] | npt.NDArray[np.object_]) -> Fields:
        """Return these fields with the rows of `texts` appended (self is left as it was)."""
        n = self.n + len(texts)
        found: dict[str, tuple[list[int], list[Any]]] = {}
        for row, text in enumerate(texts, start=self.n):
            values = json.loads(text) if text is not None else None
            if not isinstance(values, dict):
                continue
            for name, value in values.items():
                rows, held = found.setdefault(name, ([], []))
                rows.append(row)
                held.append(value)
        columns = {name: column.grown(n) for name, column in self.columns.items()}
        for name, (rows, held) in found.items():
            column = columns.setdefault(name, Column.empty(n))
            column.set(rows, held)
        return Fields(n, columns)

    def column(self, name: str) -> Column | None:
        return self.columns.get(name)
