"""Benchmark `FaissIndex` by index kind: recall@10, queries/s, and its overhead over raw FAISS.

Data: the "synthetic" set (`simsearch.index.make_synthetic`: seeded clusters of intrinsic rank 8),
d=128 by default. The ground truth is exact k-NN by `faiss.knn`. For each kind the same FAISS index
is timed through `FaissIndex.search` (validation, normalisation, id mapping, distances) and through
`index.index_.search` with the same SearchParameters on pre-normalised queries, alternately, so the
difference is the overhead of the wrapper (targets: <= 10% on batch queries, <= 0.2 ms per single
query). Appends a table to benchmarks/RESULTS.md.

    python benchmarks/bench_index.py --n 100000
    python benchmarks/bench_index.py --n 100000 1000000 --kinds Flat IVF HNSW32 --threads 2
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from simsearch.index import FaissIndex, IndexConfig, SearchParams, default_factory, make_synthetic
from simsearch.index.faiss_ops import search_parameters

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def factories(kinds: list[str], n: int, d: int) -> list[str]:
    """Turn kind names (Flat, IVF = the default above 100k, IVF-PQ, HNSW32, or a factory) into factories."""
    nlist = round(4 * math.sqrt(n))
    named = {
        "IVF": f"IVF{nlist},Flat",
        "IVF-PQ": f"IVF{nlist},PQ{d // 4}",
        "default": default_factory(n, d),
    }
    return [named.get(kind, kind) for kind in kinds]


def recall_at(found: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> float:
    k = truth.shape[1]
    rows = zip(found.tolist(), truth.tolist(), strict=True)
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in rows]))


def timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def time_pairs(ours: Any, raw: Any, repeats: int) -> tuple[list[float], list[float]]:
    """Time `ours()` and `raw()` `repeats` times each, alternating which goes first (warm caches)."""
    ours(), raw()
    t_ours, t_raw = [], []
    for i in range(repeats):
        if i % 2:
            t_ours.append(timed(ours))
            t_raw.append(timed(raw))
        else:
            t_raw.append(timed(raw))
            t_ours.append(timed(ours))
    return t_ours, t_raw


def raw_parameters(index: FaissIndex, k: int) -> Any:
    """The SearchParameters `FaissIndex.search` passes at the default `SearchParams()`."""
    return search_parameters(index.index_, SearchParams().nprobe, SearchParams().ef_search, k, None)


def time_batch(
    index: FaissIndex, xq: npt.NDArray, xq_n: npt.NDArray, k: int, repeats: int
) -> tuple[float, float, float]:
    """Median seconds for all queries at once (FaissIndex, raw FAISS) and the median paired ratio - 1.

    Each pair runs back to back, so the ratio cancels the drift of a machine shared with other jobs.
    """
    params = raw_parameters(index, k)
    ours, raw = time_pairs(
        lambda: index.search(xq, k), lambda: index.index_.search(xq_n, k, params=params), repeats
    )
    ratio = statistics.median(a / b for a, b in zip(ours, raw, strict=True))
    return statistics.median(ours), statistics.median(raw), ratio - 1


def time_single(index: FaissIndex, xq: npt.NDArray, xq_n: npt.NDArray, k: int) -> tuple[float, float, float]:
    """Median ms per single query: FaissIndex, raw FAISS, and the median paired difference."""
    params = raw_parameters(index, k)
    ours, raw = [], []
    for i in range(len(xq)):
        a, b = time_pairs(lambda i=i: index.search(xq[i : i + 1], k),
                          lambda i=i: index.index_.search(xq_n[i : i + 1], k, params=params), 2)
        ours.append(min(a))
        raw.append(min(b))
    diff = [a - b for a, b in zip(ours, raw, strict=True)]
    return 1e3 * statistics.median(ours), 1e3 * statistics.median(raw), 1e3 * statistics.median(diff)


def run_one(
    factory: str, xb: npt.NDArray, xq: npt.NDArray, truth: npt.NDArray, args: argparse.Namespace
) -> dict[str, Any]:
    ids = np.arange(len(xb))
    if args.ids == "str":
        ids = np.array([f"item-{i}" for i in range(len(xb))], dtype=object)
    start = time.perf_counter()
    index = FaissIndex(IndexConfig(metric=args.metric, factory=factory, seed=args.seed)).build(xb, ids)
    build_s = time.perf_counter() - start
    xq_n = xq.copy()
    if args.metric == "cosine":
        faiss.normalize_L2(xq_n)
    found = index.search(xq, args.k).ids
    rows = found if args.ids == "int" else np.vectorize(lambda s: int(s[5:]))(found)
    batch_ours, batch_raw, batch_overhead = time_batch(index, xq, xq_n, args.k, args.repeats)
    single = min(args.single, len(xq))
    single_ours, single_raw, single_diff = time_single(index, xq[:single], xq_n[:single], args.k)
    return {
        "n": len(xb),
        "factory": factory,
        "kind": index.kind,
        "build_s": build_s,
        "recall": recall_at(rows, truth),
        "qps_ours": len(xq) / batch_ours,
        "qps_raw": len(xq) / batch_raw,
        "batch_overhead": batch_overhead,
        "single_ours": single_ours,
        "single_raw": single_raw,
        "single_overhead": single_diff,
    }


def ground_truth(xb: npt.NDArray, xq: npt.NDArray, k: int, metric: str) -> npt.NDArray[np.int64]:
    if metric == "cosine":
        xb, xq = xb.copy(), xq.copy()
        faiss.normalize_L2(xb)
        faiss.normalize_L2(xq)
        return faiss.knn(xq, xb, k, metric=faiss.METRIC_INNER_PRODUCT)[1]
    return faiss.knn(xq, xb, k)[1]


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| n | factory | FAISS class | build s | recall@10 | batch q/s FaissIndex | batch q/s FAISS "
        "| batch overhead | single ms FaissIndex | single ms FAISS | single overhead ms |\n"
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = [
        f"| {r['n']:,} | `{r['factory']}` | {r['kind']} | {r['build_s']:.1f} | {r['recall']:.3f} "
        f"| {r['qps_ours']:,.0f} | {r['qps_raw']:,.0f} | {100 * r['batch_overhead']:+.1f}% "
        f"| {r['single_ours']:.3f} | {r['single_raw']:.3f} | {r['single_overhead']:+.3f} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def report(rows: list[dict[str, Any]], args: argparse.Namespace, argv: list[str]) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"\n## Index kinds: recall@10 and queries/s ({now})\n\n"
        f"- Command: `{shlex.join(['python', 'benchmarks/bench_index.py', *argv])}`\n"
        f"- Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load} at the end; Python {platform.python_version()}, "
        f"faiss {faiss.__version__} on {faiss.omp_get_max_threads()} thread(s), numpy {np.__version__}\n"
        f"- Data: synthetic (`make_synthetic`, clustered, rank 8, seed {args.seed}), d={args.d}, "
        f"metric {args.metric}, {args.ids} ids, {args.nq} batch queries (medians of {args.repeats} "
        f"runs), {args.single} single queries (medians), k={args.k}, default `SearchParams()` "
        f"(nprobe={SearchParams().nprobe}, ef_search={SearchParams().ef_search})\n"
        f"- Overhead: `FaissIndex.search` vs `index_.search` (raw FAISS, same index and "
        f"SearchParameters, queries pre-normalised), timed back to back in alternating order; "
        f"batch: median ratio of the pairs - 1, single: median difference of the pairs\n\n"
        + table(rows)
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000], help="catalogue sizes")
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--kinds", nargs="+", default=["Flat", "IVF", "IVF-PQ", "HNSW32"],
                        help="Flat, IVF (the default factory above 100k), IVF-PQ, HNSW32, or any factory")
    parser.add_argument("--metric", choices=["cosine", "l2"], default="cosine")
    parser.add_argument("--ids", choices=["int", "str"], default="int")
    parser.add_argument("--nq", type=int, default=1000, help="batch queries")
    parser.add_argument("--single", type=int, default=300, help="single queries")
    parser.add_argument("--repeats", type=int, default=9, help="batch timings (pairs)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="FAISS threads (default: FAISS's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to append to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    rows = []
    for n in args.n:
        xb, xq = make_synthetic(n, args.d, nq=args.nq, seed=args.seed)
        truth = ground_truth(xb, xq, args.k, args.metric)
        for factory in factories(args.kinds, n, args.d):
            rows.append(run_one(factory, xb, xq, truth, args))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = report(rows, args, argv)
    print(text)
    if not args.no_write:
        new = not args.results.exists()
        with open(args.results, "a") as f:
            f.write("# Benchmark results\n" if new else "")
            f.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
