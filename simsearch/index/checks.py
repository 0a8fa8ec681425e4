"""Validation of what callers hand to the index: embeddings, ids, metadata, k, radius.

Every check runs before anything is changed, so a bad call leaves the index as it was. The same
checks guard the other entry points that take embeddings and ids (`simsearch.dedup`,
`simsearch.distributed`), so ids and embeddings are held to one rule everywhere.
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import DataError
from simsearch.validation import MAX_ID_CHARS, check_text, metadata_json
from simsearch.validation import check_radius as _check_radius

__all__ = [
    "IdArray",
    "check_embeddings",
    "check_ids",
    "check_k",
    "check_metadata",
    "check_radius",
    "id_kind",
    "missing_id",
    "query_rows",
    "unit_rows",
    "unit_rows_of",
]

IdArray = npt.NDArray[Any]  # (n,) int64, or object holding str


def check_embeddings(x: npt.ArrayLike, d: int | None, name: str = "xb") -> npt.NDArray[np.float32]:
    """Return `x` as a C-contiguous `(n, d) float32` array of finite values, or raise `DataError`."""
    arr = np.asarray(x)
    want = f"(n, {d})" if d is not None else "(n, d)"
    if arr.ndim != 2 or arr.shape[1] == 0 or (d is not None and arr.shape[1] != d):
        raise DataError(f"Expected {name} of shape {want}. Received: {name}.shape={arr.shape}")
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise DataError(f"Expected {name} of real numbers. Received: {name}.dtype={arr.dtype}")
        with np.errstate(over="ignore"):
            arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise DataError(
            f"Expected finite values in {name} (float32). Received: NaN or inf in "
            f"{rows.size} row(s), first {rows[:5].tolist()}"
        )
    return arr


def unit_rows(x: npt.NDArray[np.float32], name: str) -> npt.NDArray[np.float32]:
    """Return the rows of `x` divided by their L2 norm; all-zero rows have no direction: DataError."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    odd = ~((norms > 0) & (norms < np.inf))
    if odd.any():  # float32 under- or overflow: recompute those norms in float64
        norms[odd] = np.linalg.norm(x[odd].astype(np.float64), axis=1)
        bad = ~((norms > 0) & (norms < np.inf))
        if bad.any():
            rows = np.flatnonzero(bad)
            raise DataError(
                f"Expected non-zero rows in {name} for metric='cosine'. Received: {rows.size} zero "
                f"row(s), first {rows[:5].tolist()}"
            )
    return np.divide(x, norms[:, None], out=_aligned_empty(x.shape))


def unit_rows_of(x: npt.NDArray[np.float32], norms2: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Return the rows of `x` divided by their L2 norm, given their squared norms `norms2`
    (checked finite and > 0 by the caller)."""
    return np.divide(x, np.sqrt(norms2)[:, None], out=_aligned_empty(x.shape))


def _aligned_empty(shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    """Return an empty float32 array starting on a 64-byte boundary.

    Small numpy arrays start 32 bytes off a cache line; FAISS's scan of a Flat index then runs
    ~5% slower for a single query (0.1 ms at 100k x 128), enough to show against raw FAISS.
    """
    size = math.prod(shape)
    buf = np.empty(size + 16, np.float32)
    start = (-buf.__array_interface__["data"][0] % 64) // 4  # `.ctypes` costs a few µs a call
    return buf[start : start + size].reshape(shape)


def id_kind(ids: IdArray) -> str:
    """Return `"int"` for int64 ids, `"str"` for string ids."""
    return "int" if ids.dtype.kind == "i" else "str"


def missing_id(kind: str) -> Any:
    """Return the mark of an empty result slot: `-1` among int ids, `None` among string ids."""
    return -1 if kind == "int" else None


def check_ids(
    ids: Sequence[Any] | npt.ArrayLike,
    n: int | None,
    kind: str | None,
    name: str = "ids",
    unique: bool = True,
) -> IdArray:
    """Return catalogue ids as `(n,) int64` or `(n,) object` (str) of the index's kind.

    Int ids must be >= 0 (`-1` marks an empty result slot); string ids must be non-empty valid
    text of at most `MAX_ID_CHARS` characters (`simsearch.validation`).
    `n=None` accepts any length; `unique=False` accepts repeats.
    """
    values = _as_id_array(ids, name)
    n = len(values) if n is None else n
    if len(values) != n:
        raise DataError(f"Expected one id per row: {n} {name}. Received: {len(values)} {name}")
    if n == 0:
        return np.empty(0, np.int64 if kind in (None, "int") else object)
    got = id_kind(values)
    if kind is not None and got != kind:
        raise DataError(f"Expected {kind} ids, as in the index. Received: {got} ids")
    if got == "int" and n and values.min() < 0:
        raise DataError(f"Expected int ids >= 0 (-1 marks an empty slot). Received: {values.min()}")
    if got == "str":
        _check_text_ids(values, name)
    if unique and len(set(values.tolist())) != n:
        counts = Counter(values.tolist())
        dupes = [v for v, c in counts.items() if c > 1][:5]
        raise DataError(f"Expected unique {name}. Received: duplicates {dupes}")
    return values


def _check_text_ids(values: IdArray, name: str) -> None:
    for value in values.tolist():
        if not 0 < len(value) <= MAX_ID_CHARS:
            got = "''" if not value else f"{len(value)} characters"
            raise DataError(
                f"Expected non-empty string ids of at most {MAX_ID_CHARS} characters. "
                f"Received: {got} in {name}"
            )
        check_text(value, name)


def _as_id_array(ids: Sequence[Any] | npt.ArrayLike, name: str) -> IdArray:
    scalar = isinstance(ids, np.ndarray) and ids.ndim == 0
    if scalar or isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__"):
        raise DataError(f"Expected a sequence of {name}. Received: {ids!r}")
    if isinstance(ids, np.ndarray):
        arr = ids
    else:
        arr = np.empty(len(ids), dtype=object)  # type: ignore[arg-type]
        arr[:] = list(ids)  # type: ignore[arg-type]
    if arr.ndim != 1:
        raise DataError(f"Expected {name} as a 1-D sequence. Received: shape {arr.shape}")
    if arr.dtype.kind in "iu":
        if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise DataError(f"Expected int {name} that fit in int64. Received: {arr.max()}")
        return arr.astype(np.int64)
    if arr.dtype.kind == "U":
        return arr.astype(object)
    if arr.size == 0:
        return np.empty(0, np.int64)
    if arr.dtype.kind == "O":
        values = arr.tolist()
        if all(isinstance(v, str) for v in values):
            return arr.astype(object)
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
            if not all(-(2**63) <= int(v) < 2**63 for v in values):
                raise DataError(f"Expected int {name} that fit in int64. Received: a larger integer")
            return np.array([int(v) for v in values], np.int64)
    kinds = sorted({type(v).__name__ for v in arr.tolist()})
    raise DataError(f"Expected {name} that are all str or all int. Received: types {kinds}")


def check_metadata(metadata: Sequence[Any] | None, n: int) -> npt.NDArray[np.object_] | None:
    """Return per-item metadata as JSON text (`None` for none), or `None` when not given."""
    if metadata is None:
        return None
    if isinstance(metadata, (str, bytes)) or len(metadata) != n:
        got = "a string" if isinstance(metadata, (str, bytes)) else f"{len(metadata)} entries"
        raise DataError(f"Expected one metadata entry per row: {n}. Received: {got}")
    out = np.empty(n, dtype=object)
    for i, value in enumerate(metadata):
        out[i] = None if value is None else metadata_json(value, f"the metadata of row {i}")
    return out


def check_k(k: Any) -> int:
    """Return `k` as an int >= 1."""
    if k.__class__ is int and k > 0:  # the common case, without the ABC checks below
        return k
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k <= 0:
        raise DataError(f"Expected k to be a positive integer. Received: k={k!r}")
    return int(k)


def check_radius(radius: Any) -> float:
    """Return `radius` as a float from 0 to float32's largest (FAISS takes a float32)."""
    if isinstance(radius, numbers.Real) and not isinstance(radius, (bool, int, float)):
        radius = float(radius)  # numpy scalars
    return _check_radius(radius)


def query_rows(xq: npt.ArrayLike, d: int, metric: str) -> npt.NDArray[np.float32]:
    """Query vectors checked (finite, `(nq, d)`) and, for cosine, normalised."""
    if (
        metric == "cosine"
        and isinstance(xq, np.ndarray)
        and xq.dtype == np.float32
        and xq.ndim == 2
        and xq.shape[1] == d
        and xq.flags.c_contiguous
    ):
        # The common case in one pass: a finite, non-zero squared norm per row means finite
        # values (NaN and inf propagate into it); anything else takes the checks below.
        norms2 = np.einsum("ij,ij->i", xq, xq)
        if len(xq) and norms2.min() > 0.0 and norms2.max() < np.inf:
            return unit_rows_of(xq, norms2)
    x = check_embeddings(xq, d, "xq")
    return unit_rows(x, "xq") if metric == "cosine" else x
