"""An index for a budget: the factory and query settings that reach a recall target, measured.

    index, choice = build_for_budget(xb, ids, config=IndexConfig(metric="cosine"),
                                     budget=Budget(target_recall=0.95, max_memory=2 * 2**30))

How: `n_queries` rows of the catalogue are held out as queries, and their exact `k` nearest
neighbours among the other rows found by brute force (`faiss.knn`). Each candidate kind that fits
`max_memory` is built over those other rows and searched with growing `nprobe` / `efSearch` until
its recall@k reaches the target with 95% confidence (the one-sided lower bound of the mean over
the held-out queries: a few hundred queries measure recall to about ±0.01); its memory and query
time are measured there. The fastest candidate that reaches the target is kept (query times
within 10% count as a tie, which the smaller memory wins), the held-out rows are added to it, and
its query settings become the index's `search_defaults`; `choice.to_dict()` (saved in the
manifest as `tuning`) records what was measured.

Candidates, for `n` items of dimension `d`: `Flat` (exact), `IVF{nlist},Flat`, `HNSW32`, and
the quantised `IVF{nlist},SQ8` and `IVF{nlist},PQ{m}`, which re-score `REFINE_FACTOR * k`
candidates with the float vectors (`...,RFlat`, FAISS's `IndexRefineFlat`) when the memory allows
and do without otherwise.

Memory counts what a loaded `FaissIndex` holds: the FAISS index (its serialised size) plus the
float vectors it keeps for `get` and exact fallbacks (`n * d * 4` bytes, whatever the kind).
Query time is a batch of the held-out queries on the threads FAISS has, divided by their number.
"""

# ruff: noqa: E741  (FAISS vocabulary: D distances, I labels)

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError
from simsearch.index.checks import check_embeddings, unit_rows
from simsearch.index.config import IndexConfig, SearchParams
from simsearch.index.faiss_index import FaissIndex
from simsearch.index.faiss_ops import faiss_metric

__all__ = [
    "KINDS",
    "Budget",
    "Choice",
    "Trial",
    "build_for_budget",
    "candidates",
    "estimate_memory",
    "recall_at_k",
    "recalls_at_k",
    "size_text",
]

logger = logging.getLogger(__name__)

KINDS = ("Flat", "IVF", "HNSW", "SQ8", "PQ")
_NPROBE = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_EF_SEARCH = (16, 32, 64, 128, 256, 512)
_PQ_ROWS = 39 * 256  # rows FAISS wants to train PQ's 256 centroids a sub-quantiser
_Z95 = 1.645  # one-sided 95% normal quantile
_SAME_SPEED = 0.1  # query times closer than this are a tie, broken by memory


@dataclass(frozen=True)
class Budget:
    """What the index must reach, and within what memory.

    Args:
        target_recall: recall@k to reach on the held-out queries, in (0, 1].
        max_memory: bytes the loaded index may take (FAISS index + kept float vectors); None: any.
        k: the k of recall@k.
        n_queries: catalogue rows held out as queries (at most a tenth of the catalogue).
        seed: seed of the held-out sample (and of the builds, with `IndexConfig.seed`).
        kinds: the families to try, among `KINDS`; None: all (a benchmark's reduced run, or a
            caller who knows HNSW's build is too slow for it, names fewer).
    """

    target_recall: float
    max_memory: int | None = None
    k: int = 10
    n_queries: int = 500
    seed: int = 0
    kinds: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.target_recall, (int, float)) and 0 < self.target_recall <= 1):
            raise ConfigError(f"Expected a target recall in (0, 1]. Received: {self.target_recall!r}")
        if self.max_memory is not None and self.max_memory < 1:
            raise ConfigError(f"Expected max_memory >= 1 byte. Received: {self.max_memory}")
        if self.k < 1 or self.n_queries < 1:
            raise ConfigError(
                f"Expected k and n_queries >= 1. Received: k={self.k}, n_queries={self.n_queries}"
            )
        unknown = sorted(set(self.kinds or ()) - set(KINDS))
        if unknown or self.kinds == ():
            raise ConfigError(f"Expected kinds among {list(KINDS)}. Received: {unknown or []}")


@dataclass(frozen=True)
class Trial:
    """One candidate as measured: at the first query setting whose recall reached the target with
    95% confidence (its lower bound over the held-out queries, so that a recall measured just
    above the target on a few hundred queries does not pass), else at the best one tried."""

    factory: str
    params: dict[str, int]
    recall: float
    recall_low: float  # one-sided 95% lower bound over the held-out queries
    memory_bytes: int
    ms_per_query: float
    reached: bool


@dataclass(frozen=True)
class Choice:
    """The chosen kind (`trials[chosen]`), and every trial for the record."""

    budget: Budget
    n_queries: int
    trials: list[Trial] = field(default_factory=list)
    chosen: int = 0
    held_out: tuple[int, ...] = ()  # the catalogue rows that were the queries

    @property
    def trial(self) -> Trial:
        return self.trials[self.chosen]

    @property
    def params(self) -> SearchParams:
        return SearchParams(**self.trial.params)

    def to_dict(self) -> dict[str, Any]:
        """What the manifest records as `tuning`."""
        return {
            "target_recall": self.budget.target_recall,
            "max_memory": self.budget.max_memory,
            "k": self.budget.k,
            "queries": self.n_queries,
            "factory": self.trial.factory,
            "params": self.trial.params,
            f"recall_at_{self.budget.k}": round(self.trial.recall, 4),
            "recall_lower_95": round(self.trial.recall_low, 4),
            "memory_bytes": self.trial.memory_bytes,
            "ms_per_query": round(self.trial.ms_per_query, 4),
            "trials": [
                asdict(t) | {"recall": round(t.recall, 4), "recall_low": round(t.recall_low, 4)}
                for t in self.trials
            ],
        }

    def summary(self) -> str:
        """One line for the CLI: the choice, its recall and memory."""
        t = self.trial
        params = ", ".join(
            f"{name} {value}" for name, value in t.params.items() if name in _PARAM_OF[_family(t.factory)]
        )
        return (
            f"{t.factory}{f' ({params})' if params else ''}: recall@{self.budget.k} {t.recall:.4f} "
            f"(95% lower bound {t.recall_low:.4f}) on "
            f"{self.n_queries} held-out queries (target {self.budget.target_recall:g}), "
            f"{size_text(t.memory_bytes)}, {t.ms_per_query:.3f} ms/query"
        )


def build_for_budget(
    xb: npt.ArrayLike,
    ids: Sequence[Any] | npt.ArrayLike,
    metadata: Sequence[Any] | None = None,
    *,
    config: IndexConfig | None = None,
    budget: Budget,
) -> tuple[FaissIndex, Choice]:
    """Build the fastest index that reaches `budget.target_recall` within `budget.max_memory`.

    `config.factory` is ignored (the choice is the point); its metric, seed and other settings
    are kept.

    Raises:
        DataError: no candidate reaches the target within the memory (the message names the best
            one), or too few rows to hold queries out (fewer than 20).
    """
    config = config or IndexConfig()
    xb = check_embeddings(xb, None, "xb")
    n, d = xb.shape
    if n < 20:
        raise DataError(f"Expected at least 20 rows to measure recall on held-out queries. Received: {n}")
    ids = np.asarray(ids) if not isinstance(ids, np.ndarray) else ids
    meta = None if metadata is None else list(metadata)
    if meta is not None and len(meta) != n:
        raise DataError(f"Expected one metadata entry per row: {n}. Received: {len(meta)} entries")
    _check_memory(budget, n, d)
    rng = np.random.default_rng(budget.seed)
    nq = min(budget.n_queries, n // 10)
    held = np.zeros(n, bool)
    held[rng.choice(n, nq, replace=False)] = True
    base, queries = np.flatnonzero(~held), np.flatnonzero(held)
    k = min(budget.k, len(base))
    xq = xb[queries]
    truth = ids[base][_exact(xb[base], xq, k, config.metric)]
    best: tuple[FaissIndex, int] | None = None
    trials: list[Trial] = []
    for factory in candidates(len(base), d, budget.max_memory, budget.kinds):
        index = FaissIndex(IndexConfig(**{**asdict(config), "factory": factory}))
        index.build(xb[base], ids[base], _rows(meta, base))
        trial = _measure(index, xq, truth, k, budget)
        trials.append(trial)
        logger.info("Tried %s: %s", factory, trial)
        if not trial.reached or (budget.max_memory is not None and trial.memory_bytes > budget.max_memory):
            continue
        if best is None or _better(trial, trials[best[1]]):
            best = (index, len(trials) - 1)
    if best is None:
        raise DataError(_unreached(trials, budget))
    index, chosen = best
    choice = Choice(budget, nq, trials, chosen, tuple(queries.tolist()))
    index.add(xq, ids[queries], _rows(meta, queries))
    index.search_defaults = choice.params
    index.tuning = choice.to_dict()
    return index, choice


def size_text(n_bytes: int) -> str:
    """Bytes as KiB, MiB or GiB, one decimal."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{n_bytes / 2**10:.1f} KiB"


def _rows(meta: list[Any] | None, rows: npt.NDArray[np.int64]) -> list[Any] | None:
    return None if meta is None else [meta[i] for i in rows.tolist()]


def _better(trial: Trial, than: Trial) -> bool:
    """Faster; within `_SAME_SPEED` of each other (timing noise on a shared machine), smaller."""
    if trial.ms_per_query <= than.ms_per_query * (1 - _SAME_SPEED):
        return True
    same = trial.ms_per_query < than.ms_per_query * (1 + _SAME_SPEED)
    return same and trial.memory_bytes < than.memory_bytes


def candidates(
    n: int, d: int, max_memory: int | None = None, kinds: Sequence[str] | None = None
) -> list[str]:
    """The factory strings tried for `n` items of dimension `d` whose estimated memory fits, of
    the families `kinds` (default: all `KINDS`).

    A quantised kind is refined (`,RFlat`) when the float copy fits too, else not.
    """
    nlist = max(1, min(round(4 * math.sqrt(n)), n // 39))  # FAISS wants >= 39 training rows a list
    m = _pq_m(d)
    factories = ["Flat", f"IVF{nlist},Flat", "HNSW32"]
    pq = [f"IVF{nlist},PQ{m}"] if m and n >= _PQ_ROWS else []  # 256 codes a sub-quantiser to train
    for quantised in (f"IVF{nlist},SQ8", *pq):
        refined = f"{quantised},RFlat"
        factories.append(refined if _fits(refined, n, d, max_memory) else quantised)
    wanted = set(kinds or KINDS)
    return [f for f in factories if _fits(f, n, d, max_memory) and _kind_of(f) in wanted]


def _kind_of(factory: str) -> str:
    """The family of a candidate factory string: Flat, IVF (IVF-Flat), HNSW, SQ8 or PQ."""
    if factory.startswith("HNSW"):
        return "HNSW"
    second = factory.split(",")[1] if "," in factory else factory
    return {"Flat": "IVF" if factory.startswith("IVF") else "Flat", "SQ8": "SQ8"}.get(second, "PQ")


def estimate_memory(factory: str, n: int, d: int) -> int:
    """Bytes a loaded `FaissIndex` of `factory` over `n` vectors takes, roughly (see the module)."""
    code = {"Flat": 4 * d, "HNSW32": 4 * d + 32 * 2 * 4 + 16}.get(factory.split(",")[0], 0)
    if factory.startswith("IVF"):
        second = factory.split(",")[1]
        code = 8 + (4 * d if second == "Flat" else d if second == "SQ8" else int(second[2:]))
    if factory.endswith(",RFlat"):
        code += 4 * d
    return n * (code + 4 * d)


def _check_memory(budget: Budget, n: int, d: int) -> None:
    floor = min(estimate_memory(factory.removesuffix(",RFlat"), n, d) for factory in candidates(n, d))
    if budget.max_memory is not None and budget.max_memory < floor:
        raise DataError(
            f"Expected max_memory of at least {size_text(floor)} for {n} vectors of dim {d} (the "
            f"float vectors kept for get and re-scoring, and the smallest codes). Received: "
            f"{size_text(budget.max_memory)}"
        )


def _fits(factory: str, n: int, d: int, max_memory: int | None) -> bool:
    return max_memory is None or estimate_memory(factory, n, d) <= max_memory


def _pq_m(d: int) -> int:
    """PQ sub-quantisers: d/4 bytes a vector (4 dimensions each, 8 bits), else a divisor near it."""
    for m in range(max(1, d // 4), 0, -1):
        if d % m == 0:
            return m
    return 0


def _family(factory: str) -> str:
    return "hnsw" if factory.startswith("HNSW") else "ivf" if factory.startswith("IVF") else "flat"


_PARAM_OF = {"flat": (), "ivf": ("nprobe",), "hnsw": ("ef_search",)}


def _exact(
    xb: npt.NDArray[np.float32], xq: npt.NDArray[np.float32], k: int, metric: str
) -> npt.NDArray[np.int64]:
    """Row numbers in `xb` of the exact `k` nearest neighbours of each query (brute force)."""
    if metric == "cosine":
        xb, xq = unit_rows(xb, "xb"), unit_rows(xq, "xq")
    _, I = faiss.knn(xq, xb, k, metric=faiss_metric(metric))
    return I


def _measure(
    index: FaissIndex, xq: npt.NDArray[np.float32], truth: npt.NDArray[np.int64], k: int, budget: Budget
) -> Trial:
    """Recall (against the catalogue ids `truth`) at growing query settings until the target;
    memory and time at the setting kept."""
    family = _family(index.factory_)
    settings: list[dict[str, int]]
    if family == "ivf":
        nlist = faiss.extract_index_ivf(index.index_).nlist
        settings = [{"nprobe": p} for p in _NPROBE if p < nlist] + [{"nprobe": nlist}]
    elif family == "hnsw":
        settings = [{"ef_search": ef} for ef in _EF_SEARCH]
    else:
        settings = [{}]
    best: tuple[float, float, dict[str, int]] = (-1.0, -1.0, {})
    for values in settings:
        per_query = recalls_at_k(index.search(xq, k, SearchParams(**values)).ids, truth)
        recall, low = _lower_bound(per_query)
        if low > best[1]:
            best = (recall, low, values)
        if low >= budget.target_recall:
            break
    recall, low, values = best
    params = {**asdict(SearchParams()), **values}
    times = []
    for _ in range(3):  # the best of 3: the machine may be busy
        start = time.perf_counter()
        index.search(xq, k, SearchParams(**params))
        times.append(time.perf_counter() - start)
    ms = min(times) * 1000 / len(xq)
    memory = len(faiss.serialize_index(index.index_)) + len(index) * index.dim * 4
    return Trial(index.factory_, params, recall, low, memory, ms, low >= budget.target_recall)


def _lower_bound(per_query: npt.NDArray[np.float64]) -> tuple[float, float]:
    """The mean recall and its one-sided 95% lower bound (normal approximation)."""
    mean = float(per_query.mean())
    stderr = float(per_query.std(ddof=1)) / math.sqrt(len(per_query)) if len(per_query) > 1 else 0.0
    return mean, mean - _Z95 * stderr


def recall_at_k(found: npt.NDArray[Any], truth: npt.NDArray[Any]) -> float:
    """Mean over queries of |found ∩ truth| / k, both `(nq, k)` (empty slots never count)."""
    return float(recalls_at_k(found, truth).mean())


def recalls_at_k(found: npt.NDArray[Any], truth: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Per query, |found ∩ truth| / k, both `(nq, k)`."""
    k = truth.shape[1]
    rows = zip(found.tolist(), truth.tolist(), strict=True)
    return np.array([len(set(f) & set(t)) / k for f, t in rows], np.float64)


def _unreached(trials: list[Trial], budget: Budget) -> str:
    memory = "" if budget.max_memory is None else f" within {size_text(budget.max_memory)}"
    if not trials:
        return f"Expected an index kind that fits{memory}. Received: none fits"
    top = max(trials, key=lambda t: t.recall)
    return (
        f"Expected an index reaching recall@{budget.k} >= {budget.target_recall:g}{memory}. Received: "
        f"at best {top.recall:.4f} ({top.factory}, {size_text(top.memory_bytes)}); "
        f"tried {[t.factory for t in trials]}. Lower the target or raise --max-memory"
    )
