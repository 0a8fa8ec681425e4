"""Benchmark filtered search (`where`) at 1%, 10% and 50% selectivity, by index kind.

Data: the "synthetic" set (`simsearch.index.make_synthetic`, clustered, rank 8), d=128 by default;
each item's metadata holds `bucket`, 0..99 drawn at random (independent of the clusters), and the
filter `{"bucket": {"$lt": p}}` allows p% of the items. In the same run, for each kind and
selectivity, with the same queries:

- unfiltered: `FaissIndex.search(xq, k)`;
- filtered: `FaissIndex.search(xq, k, where=...)`, the filter's mask cached (the first call, which
  computes the mask over the stored fields, is reported apart, as is the parse of the metadata
  into columns, done once per index);
- post-filter brute force: exact distances to every item, the disallowed ones masked, top k
  (numpy, what a search without filter support would do to be exact).

Recall@10 of the filtered search is against the exact filtered top-k. Appends a section to
benchmarks/RESULTS.md.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_filters.py --n 100000 --threads 1

(with the thread variables, numpy's brute force runs on one thread as FAISS does.)
"""

from __future__ import annotations

import argparse
import datetime
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

from simsearch.index import FaissIndex, IndexConfig, SearchParams, make_synthetic
from simsearch.index.allowed import EXACT_BUDGET, SELECTIVE
from simsearch.search.where import Where

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def timed(call: Any, repeats: int) -> float:
    """Median seconds of `call()` over `repeats` runs, after one warm-up run."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def post_filter_brute_force(
    xb_n: npt.NDArray[np.float32], xq_n: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_], k: int
) -> npt.NDArray[np.int64]:
    """Exact inner products to every item, disallowed ones set to -inf, the top k rows."""
    scores = xq_n @ xb_n.T
    scores[:, ~mask] = -np.inf
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
    return np.take_along_axis(top, order, 1)


def recall_at(found: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> float:
    k = truth.shape[1]
    rows = zip(found.tolist(), truth.tolist(), strict=True)
    return float(np.mean([len(set(f[:k]) & set(t)) / k for f, t in rows]))


def strategy(index: FaissIndex, count: int, n: int, d: int) -> str:
    """The way `FaissIndex.search` takes for this many allowed items (simsearch.index.allowed;
    IVF and HNSW take an IDSelector)."""
    if index.kind.startswith("IndexFlat") or count * d <= EXACT_BUDGET:
        return "exact over allowed"
    if count < SELECTIVE * n:
        return "IDSelector"
    return "over-fetch, widened"


def run_kind(factory: str, xb: Any, xq: Any, bucket: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    ids = np.arange(len(xb))
    metadata = [{"bucket": int(b)} for b in bucket]
    start = time.perf_counter()
    index = FaissIndex(IndexConfig(metric="cosine", factory=factory, seed=args.seed)).build(xb, ids, metadata)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    index.fields()
    fields_s = time.perf_counter() - start
    xb_n, xq_n = xb.copy(), xq.copy()
    faiss.normalize_L2(xb_n)
    faiss.normalize_L2(xq_n)
    params = SearchParams()
    unfiltered = timed(lambda: index.search(xq, args.k, params), args.repeats)
    rows = []
    for percent in args.selectivity:
        where = Where.parse({"bucket": {"$lt": percent}})
        mask = bucket < percent
        start = time.perf_counter()
        index.allowed(where)
        mask_s = time.perf_counter() - start
        found = index.search(xq, args.k, params, where=where).ids
        filtered = timed(lambda where=where: index.search(xq, args.k, params, where=where), args.repeats)
        brute = timed(lambda mask=mask: post_filter_brute_force(xb_n, xq_n, mask, args.k), args.repeats)
        truth = post_filter_brute_force(xb_n, xq_n, mask, args.k)
        rows.append({
            "n": len(xb), "factory": factory, "kind": index.kind, "build_s": build_s, "fields_s": fields_s,
            "percent": percent, "allowed": int(mask.sum()),
            "way": strategy(index, int(mask.sum()), len(xb), xb.shape[1]),
            "qps_unfiltered": len(xq) / unfiltered, "qps_filtered": len(xq) / filtered,
            "qps_brute": len(xq) / brute, "mask_ms": 1e3 * mask_s,
            "recall": recall_at(found, truth),
            "all_allowed": bool(mask[found[found >= 0]].all()),
        })  # fmt: skip
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| n | factory | selectivity | allowed | way | q/s unfiltered | q/s filtered | q/s post-filter "
        "brute force | filtered recall@10 | only allowed | first call: mask ms | metadata parse s |\n"
        "|---:|---|---:|---:|---|---:|---:|---:|---:|---|---:|---:|\n"
    )
    lines = [
        f"| {r['n']:,} | `{r['factory']}` | {r['percent']}% | {r['allowed']:,} | {r['way']} "
        f"| {r['qps_unfiltered']:,.0f} | {r['qps_filtered']:,.0f} | {r['qps_brute']:,.0f} "
        f"| {r['recall']:.3f} | {'yes' if r['all_allowed'] else 'NO'} | {r['mask_ms']:.1f} "
        f"| {r['fields_s']:.2f} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def report(rows: list[dict[str, Any]], args: argparse.Namespace, argv: list[str]) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    command = " ".join([*_thread_env(), shlex.join(["python", "benchmarks/bench_filters.py", *argv])])
    return (
        f"\n## Filtered search (`where`) at 1%, 10%, 50% selectivity (issue 23, {now})\n\n"
        f"- Command: `{command}`\n"
        f"- Machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores (shared with other jobs), load average {load} at the end; Python "
        f"{platform.python_version()}, faiss {faiss.__version__} on {faiss.omp_get_max_threads()} "
        f"thread(s), numpy {np.__version__}\n"
        f"- Data: synthetic (`make_synthetic`, seed {args.seed}), d={args.d}, cosine, metadata "
        f"`bucket` uniform in 0..99 independent of the clusters, filter `{{\"bucket\": {{\"$lt\": p}}}}`; "
        f"{args.nq} queries in one batch, medians of {args.repeats} runs, k={args.k}, default "
        f"`SearchParams()` (nprobe={SearchParams().nprobe}, ef_search={SearchParams().ef_search})\n"
        f"- way: what `FaissIndex.search` did (`simsearch.index.allowed`: exact over the allowed "
        f"rows for Flat or while count*d <= {EXACT_BUDGET:,}, an IDSelector below {SELECTIVE:.0%} "
        f"of the items, else an over-fetching search widened until k pass); recall against the "
        f"exact filtered top-k; post-filter brute force: numpy, all distances, disallowed masked, top k\n\n"
        + table(rows)
    )


def _thread_env() -> list[str]:
    """The BLAS / OpenMP thread settings of the run (numpy's matmul follows them, FAISS `--threads`)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    return [f"{name}={os.environ[name]}" for name in names if name in os.environ]


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="catalogue size")
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument(
        "--kinds", nargs="+", default=["Flat", "IVF", "HNSW32"], help="Flat, IVF or a factory"
    )
    parser.add_argument("--selectivity", type=int, nargs="+", default=[1, 10, 50], help="percent allowed")
    parser.add_argument("--nq", type=int, default=200, help="queries per batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="FAISS threads (default: FAISS's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to append to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    xb, xq = make_synthetic(args.n, args.d, nq=args.nq, seed=args.seed)
    bucket = np.random.default_rng(args.seed + 1).integers(0, 100, args.n)
    rows = []
    for kind in args.kinds:
        factory = f"IVF{round(4 * np.sqrt(args.n))},Flat" if kind == "IVF" else kind
        rows += run_kind(factory, xb, xq, bucket, args)
    text = report(rows, args, argv)
    print(text)
    if not args.no_write:
        with open(args.results, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
