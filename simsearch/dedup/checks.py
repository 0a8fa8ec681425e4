"""Validation of the settings the dedup functions take, and catalogue positions of ids.

Shared by the dedup modules and the Dask engine (`simsearch.distributed`), which checks and
looks up ids as the local engine does.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError, UnknownIdError
from simsearch.index.checks import IdArray, check_ids

__all__ = [
    "IdLookup",
    "check_chunk_size",
    "check_k",
    "check_max_distance",
    "check_min_score",
    "check_scores",
]


def check_k(k: Any) -> int:
    """Return `k` as an int >= 1."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ConfigError(f"Expected k to be an integer >= 1. Received: k={k!r}")
    return int(k)


def check_chunk_size(chunk_size: Any) -> int:
    """Return `chunk_size` as an int >= 1."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ConfigError(f"Expected chunk_size to be an integer >= 1. Received: chunk_size={chunk_size!r}")
    return int(chunk_size)


def check_max_distance(max_distance: Any, metric: str | None) -> float | None:
    """Return `max_distance` as a float in the metric's range: [0, 2] for cosine, [0, inf) for l2
    (`metric=None`: not known yet, both bounds are named)."""
    if max_distance is None:
        return None
    top = 2.0 if metric == "cosine" else math.inf
    ok = isinstance(max_distance, numbers.Real) and not isinstance(max_distance, bool)
    if not ok or not 0.0 <= float(max_distance) <= top or math.isnan(float(max_distance)):
        bounds = {
            "cosine": "0 <= max_distance <= 2 (cosine distance = 1 - cos)",
            None: "0 <= max_distance <= 2 for cosine (distance = 1 - cos), max_distance >= 0 for l2",
        }.get(metric, "max_distance >= 0")
        raise ConfigError(f"Expected {bounds}. Received: max_distance={max_distance!r}")
    return float(max_distance)


def check_min_score(min_score: Any, scorer: Any = True) -> float | None:
    """Return `min_score` as a float in [0, 1]; it needs a `scorer` to filter on."""
    if min_score is None:
        return None
    ok = isinstance(min_score, numbers.Real) and not isinstance(min_score, bool)
    if not ok or not 0.0 <= float(min_score) <= 1.0:
        raise ConfigError(f"Expected 0 <= min_score <= 1 (a probability). Received: min_score={min_score!r}")
    if scorer is None:
        raise ConfigError(
            "Expected a scorer to compute the scores min_score filters on. Received: scorer=None"
        )
    return float(min_score)


def check_scores(scores: Any, n: int) -> npt.NDArray[np.float32]:
    """Return what `score_pairs` returned as `(n,) float32` probabilities, or raise `DataError`."""
    out = np.asarray(scores, dtype=np.float32).reshape(-1)
    if out.shape != (n,):
        raise DataError(f"Expected score_pairs to return ({n},) scores. Received: shape {np.shape(scores)}")
    if n and not (np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0):
        raise DataError(
            "Expected score_pairs to return probabilities in [0, 1]. "
            f"Received: values from {np.nanmin(out)} to {np.nanmax(out)} (NaN: {bool(np.isnan(out).any())})"
        )
    return out


class IdLookup:
    """Catalogue positions of ids: `ids[i]` is at position `i` (int ids by binary search, str by dict).

    Args:
        ids: `(n,)` unique catalogue ids, int64 or object holding str.
        name: how errors name the catalogue.
    """

    def __init__(self, ids: IdArray, name: str = "catalogue") -> None:
        self.ids = ids
        self.name = name
        if ids.dtype.kind == "i":
            self._order = np.argsort(ids, kind="stable")
            self._sorted = ids[self._order]
        else:
            self._index = {value: i for i, value in enumerate(ids.tolist())}

    def positions(self, values: Sequence[Any] | npt.ArrayLike, name: str = "ids") -> npt.NDArray[np.int64]:
        """Return the `(m,) int64` positions of `values`; `DataError` naming any unknown id."""
        values = np.asarray(values) if isinstance(values, np.ndarray) else _as_ids(values, name)
        if self.ids.dtype.kind == "i":
            return self._int_positions(values, name)
        index = self._index
        found = [index.get(v, -1) for v in values.tolist()]
        out = np.array(found, np.int64) if found else np.empty(0, np.int64)
        self._raise_unknown(values, out < 0, name)
        return out

    def _int_positions(self, values: npt.NDArray[Any], name: str) -> npt.NDArray[np.int64]:
        if len(values) == 0:
            return np.empty(0, np.int64)
        if values.dtype.kind not in "iu":
            self._raise_unknown(values, np.ones(len(values), bool), name)
        at = np.minimum(np.searchsorted(self._sorted, values), max(len(self._sorted) - 1, 0))
        unknown = self._sorted[at] != values if len(self._sorted) else np.ones(len(values), bool)
        self._raise_unknown(values, unknown, name)
        return self._order[at].astype(np.int64, copy=False)

    def _raise_unknown(self, values: npt.NDArray[Any], unknown: npt.NDArray[np.bool_], name: str) -> None:
        if unknown.any():
            first = values[unknown][:5].tolist()
            raise UnknownIdError(
                f"Expected {name} of items in the {self.name}. Received: {int(unknown.sum())} unknown, "
                f"first {first}"
            )


def _as_ids(values: Sequence[Any] | npt.ArrayLike, name: str) -> IdArray:
    return check_ids(values, None, None, name, unique=False)
