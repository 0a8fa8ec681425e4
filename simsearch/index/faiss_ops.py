"""Thin helpers over the FAISS API: factory, training, search parameters, distances, selectors."""

# ruff: noqa: E741  (FAISS vocabulary: D distances, I labels)

from __future__ import annotations

import math
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError

__all__ = [
    "EXACT_BUDGET",
    "REFINE_FACTOR",
    "base_index",
    "default_factory",
    "faiss_metric",
    "faiss_search",
    "full_distances",
    "keep_live",
    "live_selector",
    "make_index",
    "search_parameters",
    "to_distances",
    "to_threshold",
    "train",
]

# Candidates a refined index (`...,RFlat`) re-scores with the float vectors, per result wanted:
# FAISS's default, 1, only re-orders the k it found, which cannot raise recall.
REFINE_FACTOR = 4

# Exact search while one query costs at most this many multiply-adds: 100k items at d=128,
# about 1-3 ms per query on one core.
EXACT_BUDGET = 100_000 * 128


def default_factory(n: int, d: int) -> str:
    """Pick a FAISS factory string for `n` items of dimension `d`.

    Below ~100k items at d=128 (more precisely `n * d < 12.8M`, the cost of one exact query)
    the answer is `"Flat"`: exact, no training, a few milliseconds per query.

    Above, `"IVF{4 * sqrt(n)},Flat"`: an inverted file whose `nlist = 4 * sqrt(n)` follows the
    FAISS guideline (4 to 16 * sqrt(n) lists) at its cheap end, so training on a sample takes
    seconds and adding items later needs no retraining. It keeps the vectors uncompressed, so the
    distances it reports are exact for the candidates it finds, it supports native range search,
    and its memory is that of Flat. HNSW32 is faster at equal recall, but costs ~2-3x the build time
    plus ~256 bytes per vector of graph, and its range search is bounded by `efSearch`; ask for it
    with `factory="HNSW32"` where latency matters more than build time and memory.

    Example:
    >>> default_factory(50_000, 128), default_factory(1_000_000, 128)
    ('Flat', 'IVF4000,Flat')
    """
    if n * d < EXACT_BUDGET:
        return "Flat"
    return f"IVF{round(4 * math.sqrt(n))},Flat"


def faiss_metric(metric: str) -> int:
    """Return the FAISS metric of a simsearch metric (`"cosine"` is inner product on unit rows)."""
    return faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2


def make_index(factory: str, d: int, metric: str, ef_construction: int = 40) -> Any:
    """Return an empty FAISS index for `factory`, or `ConfigError` for one FAISS refuses.

    `ef_construction` sets the build-time candidate list of HNSW graphs (FAISS's default is 40);
    a refined index (`...,RFlat`) re-scores `REFINE_FACTOR * k` candidates with the float vectors.
    """
    if "IDMap" in factory:
        raise ConfigError(
            "Expected a factory string without IDMap (FaissIndex maps catalogue ids itself). "
            f"Received: factory={factory!r}"
        )
    try:
        index = faiss.index_factory(d, factory, faiss_metric(metric))
    except RuntimeError as exc:
        raise ConfigError(
            f"Expected a FAISS factory string valid at d={d}. Received: factory={factory!r} "
            f"({_faiss_message(exc)})"
        ) from exc
    if index.metric_type != faiss_metric(metric):  # e.g. HNSW32,PQ16 is L2-only in FAISS
        raise ConfigError(
            f"Expected a factory FAISS builds for metric={metric!r}. Received: factory={factory!r}, "
            "which FAISS builds with another metric; choose another factory or metric"
        )
    # Polysemous training only serves Hamming-filtered search, which simsearch does not use, and
    # makes PQ training ~25x slower; the PQ codebooks are the same without it.
    for part in _parts(index):
        if hasattr(part, "do_polysemous_training"):
            part.do_polysemous_training = False
        if isinstance(part, faiss.IndexHNSW):
            part.hnsw.efConstruction = ef_construction
        if isinstance(part, faiss.IndexRefine) and part.k_factor == 1:
            part.k_factor = REFINE_FACTOR
    return index


def train(index: Any, xb: npt.NDArray[np.float32], train_size: int | None, seed: int) -> None:
    """Train `index` (IVF, PQ, ...) on a seeded sample of `xb`; a no-op for Flat and HNSW."""
    if index.is_trained:
        return
    ivf = faiss.try_extract_index_ivf(index)
    size = train_size or max(65_536, 64 * (ivf.nlist if ivf is not None else 0))
    rng = np.random.default_rng(seed)
    sample = xb if len(xb) <= size else xb[np.sort(rng.choice(len(xb), size, replace=False))]
    for part in _parts(index):
        for cp in ("cp", "pq.cp"):
            target = _getattr_path(part, cp)
            if target is not None and hasattr(target, "seed"):
                target.seed = seed
    try:
        index.train(sample)
    except RuntimeError as exc:
        raise DataError(
            f"Expected enough embeddings to train the index. Received: {len(sample)} rows "
            f"({_faiss_message(exc)})"
        ) from exc


def base_index(index: Any) -> Any:
    """Return the innermost index under pre-transforms and refinement, downcast."""
    index = faiss.downcast_index(index)
    while isinstance(index, (faiss.IndexPreTransform, faiss.IndexRefine)):
        inner = index.index if isinstance(index, faiss.IndexPreTransform) else index.base_index
        index = faiss.downcast_index(inner)
    return index


def search_parameters(index: Any, nprobe: int, ef_search: int, k: int, sel: Any) -> Any:
    """Return FAISS SearchParameters for `index` (nested for pre-transforms and refinement)."""
    index = faiss.downcast_index(index)
    params: Any
    if isinstance(index, faiss.IndexPreTransform):
        params = faiss.SearchParametersPreTransform()
        params.index_params = search_parameters(index.index, nprobe, ef_search, k, sel)
    elif isinstance(index, faiss.IndexRefine):
        params = faiss.IndexRefineSearchParameters()
        params.k_factor = index.k_factor
        params.base_index_params = search_parameters(index.base_index, nprobe, ef_search, k, sel)
    elif isinstance(index, faiss.IndexIVF):
        params = faiss.SearchParametersIVF()
        params.nprobe = min(nprobe, index.nlist)
    elif isinstance(index, faiss.IndexHNSW):
        # SearchParametersHNSW is missing from faiss's type stubs
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        params.efSearch = max(ef_search, k)
    else:
        params = faiss.SearchParameters()
    if sel is not None and not isinstance(index, (faiss.IndexPreTransform, faiss.IndexRefine)):
        params.sel = sel
    return params


def live_selector(live: npt.NDArray[np.bool_]) -> tuple[Any, npt.NDArray[np.uint8]]:
    """Return a FAISS selector of the live keys and the bitmap it points to (keep both alive)."""
    bitmap = np.packbits(live, bitorder="little")
    return faiss.IDSelectorBitmap(len(live), faiss.swig_ptr(bitmap)), bitmap


def to_distances(
    D: npt.NDArray[np.float32], I: npt.NDArray[np.int64], metric: str
) -> npt.NDArray[np.float32]:
    """Turn FAISS scores into simsearch distances: `1 - cos`, or the true (not squared) L2.

    Empty slots (label -1) get `inf`.
    """
    out = 1.0 - D if metric == "cosine" else np.sqrt(np.maximum(D, 0.0))
    out = np.maximum(out, 0.0, out=out).astype(np.float32, copy=False)
    out[I < 0] = np.inf
    return out


def to_threshold(radius: float, metric: str) -> float:
    """Return the FAISS range-search threshold that keeps every distance <= `radius`.

    It is a hair loose; callers filter the converted distances at `radius` exactly.
    """
    if metric == "cosine":
        return 1.0 - radius - 1e-6  # FAISS keeps inner products > threshold
    return radius * radius * (1 + 1e-6) + 1e-12  # FAISS keeps squared L2 < threshold


def _parts(index: Any) -> list[Any]:
    parts, index = [], faiss.downcast_index(index)
    while index is not None:
        parts.append(index)
        if isinstance(index, faiss.IndexPreTransform):
            index = faiss.downcast_index(index.index)
        elif isinstance(index, faiss.IndexRefine):
            index = faiss.downcast_index(index.base_index)
        else:
            index = None
    return parts


def _getattr_path(obj: Any, path: str) -> Any:
    for name in path.split("."):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _faiss_message(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    last = lines[-1] if lines else repr(exc)
    return last.split(": ", 1)[-1] if last.startswith("Error in") else last


def faiss_search(index: Any, xq: npt.NDArray[np.float32], k: int, params: Any) -> tuple[Any, Any]:
    """FAISS's `index.search` without its Python wrapper's checks, which `xq` (C-contiguous
    float32 of the index's width) and `k` (>= 1) have passed: they cost as much as a small
    search's Python around it."""
    n = len(xq)
    D = np.empty((n, k), np.float32)
    I = np.empty((n, k), np.int64)
    index.search_c(n, faiss.swig_ptr(xq), k, faiss.swig_ptr(D), faiss.swig_ptr(I), params)
    return D, I


def full_distances(D: npt.NDArray[np.float32], metric: str) -> npt.NDArray[np.float32]:
    """`to_distances` of a result without empty slots, in place."""
    if metric == "cosine":
        np.subtract(1.0, D, out=D)
    else:
        np.sqrt(np.maximum(D, 0.0, out=D), out=D)
    return np.maximum(D, 0.0, out=D)


def keep_live(
    D: npt.NDArray[np.float32], I: npt.NDArray[np.int64], live: npt.NDArray[np.bool_], k: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Keep the first `k` live (or allowed) labels of each row, in order; empty slots get label -1."""
    ok = I >= 0
    ok[ok] = live[I[ok]]
    order = np.argsort(~ok, axis=1, kind="stable")[:, :k]
    D = np.take_along_axis(D, order, axis=1)
    I = np.take_along_axis(I, order, axis=1)
    I[~np.take_along_axis(ok, order, axis=1)] = -1
    return D, I
