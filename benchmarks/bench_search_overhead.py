"""`SearchEngine.search` against raw FAISS, in process: queries/s on batches and single queries.

Data: `make_synthetic` (seeded clusters), 100k x 128 by default, cosine, string ids like a
catalogue's, with a small metadata dict per item. For each index kind (Flat, the default IVF,
HNSW32) the same FAISS index is searched two ways, alternately, on one FAISS thread:

    engine   SearchEngine.search(vectors=xq, k=10, rerank=0): Query, checks, normalisation, FAISS,
             distances, catalogue ids and Hit objects with their metadata
    raw      index.index_.search(xq_n, k, params): FAISS's Python API on pre-normalised queries,
             with the same SearchParameters, returning its D, I arrays

The engine's model is a stand-in (dim, metric, config): a search by vectors never calls it. The
hits are checked identical (ids and distances) to raw FAISS's. Ratios are raw time / engine time
(1.0 = no overhead), the median of back-to-back pairs so that the drift of a shared machine cancels.
Appends a table to benchmarks/RESULTS.md.

    python benchmarks/bench_search_overhead.py                 # ~2 minutes on 2 cores
    python benchmarks/bench_search_overhead.py --kinds Flat --no-write
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
from types import SimpleNamespace
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from simsearch.engine import SearchEngine
from simsearch.index import FaissIndex, IndexConfig, SearchParams, make_synthetic
from simsearch.index.faiss_ops import search_parameters

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def factory_of(kind: str, n: int) -> str:
    return {"IVF": f"IVF{round(4 * math.sqrt(n))},Flat"}.get(kind, kind)


def engine_over(index: FaissIndex) -> SearchEngine:
    model = SimpleNamespace(dim=index.dim, metric=index.metric, kind="record", config={}, score_pairs=None)
    return SearchEngine(index, model)


def paired(ours: Any, raw: Any, repeats: int) -> tuple[list[float], list[float]]:
    """Time `ours()` and `raw()` back to back `repeats` times, alternating which goes first."""
    ours(), raw()
    t_ours, t_raw = [], []
    for i in range(repeats):
        for call, out in ((ours, t_ours), (raw, t_raw)) if i % 2 else ((raw, t_raw), (ours, t_ours)):
            start = time.perf_counter()
            call()
            out.append(time.perf_counter() - start)
    return t_ours, t_raw


def check_identical(engine: SearchEngine, index: FaissIndex, xq: npt.NDArray, xq_n: npt.NDArray, k: int,
                    params: Any) -> None:
    hits = engine.search(vectors=xq, k=k, rerank=0)
    D, I = index.index_.search(xq_n, k, params=params)  # noqa: E741
    ids = [[index._table.ids[j] for j in row if j >= 0] for row in I]
    if [[h.id for h in row] for row in hits] != ids:
        raise SystemExit(f"{index.factory_}: the engine's hits differ from raw FAISS's")
    got = np.array([[h.distance for h in row] for row in hits], np.float32)
    if not np.allclose(got, 1 - D, atol=1e-6):
        raise SystemExit(f"{index.factory_}: the engine's distances differ from raw FAISS's")


def run_kind(kind: str, xb: npt.NDArray, xq: npt.NDArray, args: argparse.Namespace) -> dict[str, Any]:
    ids = np.array([f"sku-{i:07d}" for i in range(len(xb))], dtype=object)
    metadata = [{"title": f"item {i}", "price": i % 97} for i in range(len(xb))]
    factory = factory_of(kind, len(xb))
    index = FaissIndex(IndexConfig(metric="cosine", factory=factory, seed=args.seed)).build(xb, ids, metadata)
    engine = engine_over(index)
    xq_n = xq.copy()
    faiss.normalize_L2(xq_n)
    params = search_parameters(index.index_, SearchParams().nprobe, SearchParams().ef_search, args.k, None)
    check_identical(engine, index, xq, xq_n, args.k, params)
    k = args.k
    batch_ours, batch_raw = paired(
        lambda: engine.search(vectors=xq, k=k, rerank=0),
        lambda: index.index_.search(xq_n, k, params=params),
        args.repeats,
    )
    single_ours, single_raw = [], []
    for i in range(args.single):
        q, q_n = xq[i : i + 1], xq_n[i : i + 1]
        a, b = paired(
            lambda q=q: engine.search(vectors=q, k=k, rerank=0),
            lambda q_n=q_n: index.index_.search(q_n, k, params=params),
            3,
        )
        single_ours.append(min(a))
        single_raw.append(min(b))
    return {
        "kind": kind,
        "factory": factory,
        "batch_engine": len(xq) / statistics.median(batch_ours),
        "batch_raw": len(xq) / statistics.median(batch_raw),
        "batch_ratio": statistics.median(r / o for o, r in zip(batch_ours, batch_raw, strict=True)),
        "single_engine_us": 1e6 * statistics.median(single_ours),
        "single_raw_us": 1e6 * statistics.median(single_raw),
        "single_ratio": statistics.median(r / o for o, r in zip(single_ours, single_raw, strict=True)),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| kind | factory | batch q/s engine | batch q/s raw | batch ratio | single µs engine "
        "| single µs raw | single ratio |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
    )
    return head + "\n".join(
        f"| {r['kind']} | `{r['factory']}` | {r['batch_engine']:,.0f} | {r['batch_raw']:,.0f} "
        f"| **{r['batch_ratio']:.2f}x** | {r['single_engine_us']:.1f} | {r['single_raw_us']:.1f} "
        f"| **{r['single_ratio']:.2f}x** |"
        for r in rows
    ) + "\n"


def report(rows: list[dict[str, Any]], args: argparse.Namespace, argv: list[str]) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"\n## In process: `SearchEngine.search` against raw FAISS (issue 23, {now})\n\n"
        f"- Command: `{shlex.join(['python', 'benchmarks/bench_search_overhead.py', *argv])}`\n"
        f"- Machine: {platform.platform()}, {os.cpu_count()} cores shared with other developers' jobs, "
        f"load average {load} at the end; Python {platform.python_version()}, faiss {faiss.__version__} "
        f"on 1 thread, numpy {np.__version__}\n"
        f"- Data: `make_synthetic`, {args.n:,} x {args.d}, cosine, string ids, a metadata dict per item; "
        f"k={args.k}, default `SearchParams()` (nprobe={SearchParams().nprobe}, "
        f"ef_search={SearchParams().ef_search}); batch: {args.nq} queries in one call (medians of "
        f"{args.repeats}); single: {args.single} one-row calls (best of 3 each, medians)\n"
        "- engine: `SearchEngine.search(vectors=xq, k=10, rerank=0)`, returning `Hit`s with ids and "
        "metadata; raw: `index_.search(xq_n, k, params=...)` on pre-normalised queries, returning "
        "FAISS's arrays; ratio = raw time / engine time, median of back-to-back pairs; hits checked "
        "identical\n\n" + table(rows)
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--kinds", nargs="+", default=["Flat", "IVF", "HNSW32"])
    parser.add_argument("--nq", type=int, default=1000, help="queries per batch")
    parser.add_argument("--repeats", type=int, default=7, help="batch timings (pairs)")
    parser.add_argument("--single", type=int, default=300, help="single queries")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(1)
    xb, xq = make_synthetic(args.n, args.d, nq=args.nq, seed=args.seed)
    rows = []
    for kind in args.kinds:
        rows.append(run_kind(kind, xb, xq, args))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = report(rows, args, argv)
    print(text)
    if not args.no_write:
        with open(args.results, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
