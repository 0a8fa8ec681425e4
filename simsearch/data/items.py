"""Labelled items: the one in-memory form every loader returns and every trainer takes.

Images are `(n, h, w, c) float32` in [0, 1]; text and records are columns of a table
(`fields`: name -> `(n,)` array: `str` as written when read from CSV or JSON lines, `float32`
for numbers read from Parquet or given so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from simsearch.errors import DataError

__all__ = ["Items", "Kind"]

Kind = Literal["image", "text", "record"]


@dataclass(frozen=True)
class Items:
    """A labelled catalogue held in memory.

    Attributes:
        ids: `(n,)` item ids (`str` or `int64`), unique.
        labels: `(n,)` int64 class index into `classes`; -1 where unlabelled.
        classes: class names; `labels` index into it.
        images: `(n, h, w, c) float32` in [0, 1] for image items, else None.
        fields: column name -> `(n,)` array for text and record items, else empty.
        groups: `(n,)` str group of each item (an Omniglot alphabet), or None. One-shot trials
            may be drawn within a group, as in Lake et al.'s protocol.
        metadata: column name -> `(n,)` object array of a table's other columns (text, or None
            where empty): not read by the model, stored with each item in an index.
    """

    ids: npt.NDArray[np.generic]
    labels: npt.NDArray[np.int64]
    classes: tuple[str, ...]
    images: npt.NDArray[np.float32] | None = None
    fields: dict[str, npt.NDArray[np.generic]] = field(default_factory=dict)
    groups: npt.NDArray[np.str_] | None = None
    metadata: dict[str, npt.NDArray[np.object_]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if len(self.labels) != n:
            raise DataError(
                f"Expected one label per item. Received: ids={n}, labels={len(self.labels)}"
            )
        if self.images is None and not self.fields:
            raise DataError("Expected images or fields. Received: neither")
        if self.images is not None and len(self.images) != n:
            raise DataError(
                f"Expected one image per item. Received: ids={n}, images={len(self.images)}"
            )
        for name, column in {**self.fields, **self.metadata}.items():
            if len(column) != n:
                raise DataError(
                    f"Expected one value per item in field {name!r}. Received: ids={n}, "
                    f"values={len(column)}"
                )
        if self.groups is not None and len(self.groups) != n:
            raise DataError(
                f"Expected one group per item. Received: ids={n}, groups={len(self.groups)}"
            )

    @property
    def kind(self) -> Kind:
        """`'image'` when the items hold images, else `'record'` (text is a one-field record)."""
        return "image" if self.images is not None else "record"

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: npt.ArrayLike) -> Items:
        """Return the items at `index` (positions or a boolean mask), classes unchanged."""
        idx = np.asarray(index)
        return Items(
            ids=self.ids[idx],
            labels=self.labels[idx],
            classes=self.classes,
            images=None if self.images is None else self.images[idx],
            fields={name: column[idx] for name, column in self.fields.items()},
            groups=None if self.groups is None else self.groups[idx],
            metadata={name: column[idx] for name, column in self.metadata.items()},
        )

    def content(self, index: npt.ArrayLike | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Return what a tower takes: the image array, or the dict of field columns."""
        idx = slice(None) if index is None else np.asarray(index)
        if self.images is not None:
            return self.images[idx]
        return {name: column[idx] for name, column in self.fields.items()}
