"""Shared helpers of the pair and triplet samplers: class membership and argument checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError

__all__ = ["ClassMembers", "check_count", "other_classes"]


@dataclass(frozen=True)
class ClassMembers:
    """Positions of the labelled items grouped by class (label -1 is left out).

    Attributes:
        order: `(m,) int64` positions of the labelled items, sorted by class.
        starts: `(n_classes,) int64` where each class begins in `order`.
        counts: `(n_classes,) int64` items per class.
    """

    order: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    counts: npt.NDArray[np.int64]

    @classmethod
    def from_labels(cls, labels: npt.ArrayLike) -> ClassMembers:
        """Group the positions of `labels` (`(n,)` int, -1 = unlabelled) by class."""
        values = np.asarray(labels)
        if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
            raise DataError(
                "Expected labels of shape (n,) and an integer dtype. "
                f"Received: labels.shape={values.shape}, labels.dtype={values.dtype}"
            )
        labelled = np.flatnonzero(values >= 0)
        order = labelled[np.argsort(values[labelled], kind="stable")].astype(np.int64)
        _, starts, counts = np.unique(values[order], return_index=True, return_counts=True)
        return cls(order=order, starts=starts.astype(np.int64), counts=counts.astype(np.int64))

    def __len__(self) -> int:
        return len(self.counts)

    def members(self, slot: int) -> npt.NDArray[np.int64]:
        """Return the positions of the items of class `slot` (an index into `counts`)."""
        return self.order[self.starts[slot] : self.starts[slot] + self.counts[slot]]

    def draw(self, rng: np.random.Generator, slots: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Draw one random member of each class in `slots`."""
        offset = rng.integers(self.counts[slots])
        return self.order[self.starts[slots] + offset]

    def draw_two(
        self, rng: np.random.Generator, slots: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Draw two distinct members of each class in `slots` (each must hold 2+ items)."""
        first = rng.integers(self.counts[slots])
        second = rng.integers(self.counts[slots] - 1)
        second += second >= first
        return self.order[self.starts[slots] + first], self.order[self.starts[slots] + second]


def other_classes(
    rng: np.random.Generator, slots: npt.NDArray[np.int64], n_classes: int
) -> npt.NDArray[np.int64]:
    """Draw, for each class in `slots`, a different class uniformly among `n_classes`."""
    others = rng.integers(n_classes - 1, size=len(slots))
    others += others >= slots
    return others.astype(np.int64)


def check_count(name: str, value: int, minimum: int) -> None:
    """Raise `ConfigError` unless `value` is an int of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"Expected {name} to be an int >= {minimum}. Received: {name}={value!r}")
