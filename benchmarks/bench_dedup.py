"""Benchmark whole-catalogue deduplication: `find_duplicates` through `FaissIndex` vs exact all-pairs.

Data: the "synthetic" set (`simsearch.index.make_synthetic`: seeded clusters of intrinsic rank 8),
d=128, with planted duplicates: `--dup-rate` of the rows are near-copies (an original plus
Gaussian noise of 2-10% of its norm per coordinate scale; cosine distance ~0.0002-0.005) of
originals drawn at random, so groups of 2 to ~6 items; rows shuffled, ids 0..n-1.

Each job runs in a fresh process, so its peak memory (`ru_maxrss`) is its own:

1. simsearch at `--n`: build `FaissIndex` (metric cosine, `default_factory`: IVF above 100k),
   self-join with `find_duplicates` at `k` and `--threshold`, then group with `group_pairs` and
   write the pairs to Parquet. Build + join is the job the targets are about (1M under 3 minutes,
   under 4 GB). Recall: an exact all-pairs search of 1M x 1M takes over an hour here, so the exact
   reference (`exact_duplicates`: blocked matrix products with a per-row top-k, as
   sentence-transformers' `paraphrase_mining`) is computed for `--sample` random rows and
   `--sample` random planted rows against all n rows; recall = the share of the reference pairs
   (the rows' exact k nearest within the threshold) that the self-join reports. The planted
   pairs are also counted in full.
2. The same job at `--exact-n` rows both ways: simsearch, and exact all-pairs (sentence-transformers'
   way) on the same rows.

Data generation runs in its own process too (`make_synthetic` draws all rows at once, ~4 GB of
temporaries at 1M) and is not part of the timings.

    python benchmarks/bench_dedup.py                      # 1M, k=10, threshold 0.01, exact at 100k
    python benchmarks/bench_dedup.py --n 200000 --exact-n 20000 --no-write
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from simsearch.dedup import (
    DEDUP_PARAMS,
    PairFilter,
    exact_duplicates,
    find_duplicates,
    group_pairs,
    write_pairs,
)
from simsearch.index import FaissIndex, IndexConfig, SearchParams, make_synthetic

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


# ---- data ----------------------------------------------------------------------------------


def make_planted(n: int, d: int, dup_rate: float, seed: int, folder: str) -> dict[str, Any]:
    """Write `xb.npy` (n rows: synthetic plus near-copies, shuffled) and `planted.npy` (row pairs)."""
    start = time.perf_counter()
    n_copies = round(dup_rate * n)
    base, _ = make_synthetic(n - n_copies, d, seed=seed)
    rng = np.random.default_rng(seed + 1)
    originals = rng.choice(len(base), max(n_copies // 2, 1), replace=False)
    source = originals[rng.integers(0, len(originals), n_copies)]
    scale = rng.uniform(0.02, 0.1, (n_copies, 1)) * np.linalg.norm(base[source], axis=1, keepdims=True)
    copies = base[source] + (scale / np.sqrt(d)) * rng.standard_normal((n_copies, d))
    order = rng.permutation(n)  # row i of the output is row order[i] of [base; copies]
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    xb = np.vstack([base, copies.astype(np.float32)])[order]
    copy_rows = position[len(base) + np.arange(n_copies)]
    planted = _planted_pairs(position[source], copy_rows)
    np.save(Path(folder) / "xb.npy", xb)
    np.save(Path(folder) / "planted.npy", planted)
    return {"seconds": time.perf_counter() - start, "peak_gb": _peak_gb(), "planted": len(planted)}


def _planted_pairs(origin: npt.NDArray[np.int64], copy: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """All `(lo, hi)` row pairs within each planted group (an original and its copies)."""
    groups: dict[int, list[int]] = {}
    for o, c in zip(origin.tolist(), copy.tolist(), strict=True):
        groups.setdefault(o, [o]).append(c)
    pairs = [
        (min(a, b), max(a, b)) for rows in groups.values() for i, a in enumerate(rows) for b in rows[i + 1 :]
    ]
    return np.array(sorted(pairs), np.int64).reshape(-1, 2)


# ---- jobs, each in its own process ---------------------------------------------------------


def simsearch_job(folder: str, n: int, args: argparse.Namespace, reference: bool) -> dict[str, Any]:
    """Build, self-join, group and write; with `reference`, measure recall against exact search."""
    faiss.omp_set_num_threads(args.threads or faiss.omp_get_max_threads())
    xb = np.load(Path(folder) / "xb.npy", mmap_mode="r")[:n]
    xb = np.ascontiguousarray(xb)
    ids = np.arange(n)
    start, cpu = time.perf_counter(), time.process_time()
    index = FaissIndex(IndexConfig(metric="cosine")).build(xb, ids)
    built = time.perf_counter()
    params = SearchParams(nprobe=args.nprobe)
    pair_filter = PairFilter(k=args.k, max_distance=args.threshold)
    pairs = find_duplicates(index, pair_filter, params=params, chunk_size=args.chunk_size)
    joined = time.perf_counter()
    out = {
        "n": n,
        "factory": index.factory_,
        "build_s": built - start,
        "join_s": joined - built,
        "total_s": joined - start,
        "cpu_s": time.process_time() - cpu,
        "peak_gb": _peak_gb(),
        "pairs": len(pairs),
    }
    groups = group_pairs(index.ids, pairs, max_distance=args.threshold)
    grouped = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_pairs(pairs, Path(tmp) / "pairs.parquet")
    out |= {"group_s": grouped - joined, "write_s": time.perf_counter() - grouped}
    out |= {"groups": int(groups.max()) + 1, "grouped_items": int((np.bincount(groups) > 1).sum())}
    if reference:
        out |= _recall(xb, ids, pairs, np.load(Path(folder) / "planted.npy"), args)
    return out


def exact_job(folder: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """The sentence-transformers way: exact blocked all-pairs with a per-row top-k."""
    xb = np.ascontiguousarray(np.load(Path(folder) / "xb.npy", mmap_mode="r")[:n])
    start, cpu = time.perf_counter(), time.process_time()
    pairs = exact_duplicates(xb, np.arange(n), k=args.k, max_distance=args.threshold)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "n": n,
        "total_s": seconds,
        "join_s": seconds,
        "cpu_s": cpu,
        "peak_gb": _peak_gb(),
        "pairs": len(pairs),
    }


def _recall(
    xb: npt.NDArray[np.float32],
    ids: npt.NDArray[np.int64],
    pairs: Any,
    planted: npt.NDArray[np.int64],
    args: argparse.Namespace,
) -> dict[str, Any]:
    found = _keys(pairs.left_ids, pairs.right_ids, len(ids))
    rng = np.random.default_rng(args.seed + 2)
    random_rows = rng.choice(len(ids), args.sample, replace=False)
    planted_rows = rng.choice(np.unique(planted), min(args.sample, len(np.unique(planted))), replace=False)
    out: dict[str, Any] = {}
    start = time.perf_counter()
    for name, rows in (("random", random_rows), ("planted", planted_rows)):
        ref = exact_duplicates(xb, ids, k=args.k, max_distance=args.threshold, query_ids=rows)
        keys = _keys(ref.left_ids, ref.right_ids, len(ids))
        out[f"ref_{name}"] = len(keys)
        out[f"recall_{name}"] = float(np.isin(keys, found).mean()) if len(keys) else float("nan")
    out["reference_s"] = time.perf_counter() - start
    xn = xb / np.linalg.norm(xb, axis=1, keepdims=True)
    within = planted[1 - np.einsum("ij,ij->i", xn[planted[:, 0]], xn[planted[:, 1]]) <= args.threshold]
    out["planted_pairs"] = len(within)  # two copies of one original can lie beyond the threshold
    out["found_planted"] = int(np.isin(_keys(within[:, 0], within[:, 1], len(ids)), found).sum())
    out["recall_all_planted"] = out["found_planted"] / max(len(within), 1)
    return out


def _keys(left: npt.NDArray[Any], right: npt.NDArray[Any], n: int) -> npt.NDArray[np.int64]:
    return np.minimum(left, right).astype(np.int64) * n + np.maximum(left, right)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def _in_process(func: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()  # type: ignore[no-any-return]


# ---- report -------------------------------------------------------------------------------


def report(
    rows: list[dict[str, Any]], data: dict[str, Any], args: argparse.Namespace, argv: list[str]
) -> str:
    big = rows[0]
    when = dt.datetime.now(dt.UTC)
    lines = [
        f"\n## Duplicate detection: self-join of synthetic vectors (issue 4) ({when:%Y-%m-%d %H:%M} UTC)\n",
        f"- Command: `{' '.join(['python benchmarks/bench_dedup.py', *argv])}`",
        f"- Machine: {_machine(args)}",
        f"- Data: synthetic (`make_synthetic`, clustered, rank 8, seed {args.seed}), d={args.d}, cosine; "
        f"{args.dup_rate:.0%} of the rows are planted near-copies ({data['planted']:,} planted pairs); "
        f"generated in {data['seconds']:.0f} s in a separate process (peak {data['peak_gb']:.1f} GB), "
        "not in the timings",
        "- Job: `FaissIndex(IndexConfig(metric='cosine'))` (default factory), then "
        f"`find_duplicates(PairFilter(k={args.k}, max_distance={args.threshold}), "
        f"params=SearchParams(nprobe={args.nprobe}), chunk_size={args.chunk_size})`; each row of the table "
        "in a fresh process; peak = `ru_maxrss` of that process at the end of the join; CPU s = "
        "user + system time of the process (on a busy machine, wall time ≈ CPU s / 2 is what two idle "
        "cores would take at best)",
        f"- Recall at n={big['n']:,}, against exact search (`exact_duplicates`, the paraphrase_mining way) "
        f"of sampled rows against all rows (exact all-pairs of all rows would take over an hour): "
        f"{_recall_text(big, args)} (reference search {big['reference_s']:.0f} s, not in the timings)",
        f"- After the join at n={big['n']:,}: `group_pairs` (average linkage) {big['group_s']:.1f} s "
        f"({big['grouped_items']:,} groups of 2+ items), `write_pairs` to Parquet {big['write_s']:.1f} s\n",
        "| n | method | index | build s | join s | build + join s | CPU s (both cores) | peak GB | pairs |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    return "\n".join(lines + [_row(row) for row in rows]) + "\n"


def _machine(args: argparse.Namespace) -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPU cores, load average {load} "
        f"at the end; Python {platform.python_version()}, faiss {faiss.__version__} on "
        f"{args.threads or faiss.omp_get_max_threads()} thread(s), numpy {np.__version__}"
    )


def _recall_text(big: dict[str, Any], args: argparse.Namespace) -> str:
    return (
        f"{args.sample:,} random rows ({big['ref_random']:,} reference pairs) "
        f"**{big['recall_random']:.4f}**; {args.sample:,} random planted rows "
        f"({big['ref_planted']:,} pairs) **{big['recall_planted']:.4f}**; all "
        f"{big['planted_pairs']:,} planted pairs within the threshold **{big['recall_all_planted']:.5f}** "
        f"({big['found_planted']:,} found)"
    )


def _row(row: dict[str, Any]) -> str:
    method = row.get("method", "simsearch `find_duplicates`")
    build = f"{row['build_s']:.1f}" if "build_s" in row else "-"
    return (
        f"| {row['n']:,} | {method} | {row.get('factory', '-')} | {build} | {row['join_s']:.1f} | "
        f"{row['total_s']:.1f} | {row['cpu_s']:.0f} | {row['peak_gb']:.2f} | {row['pairs']:,} |"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="catalogue size")
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.01, help="max cosine distance (1 - cos)")
    parser.add_argument("--dup-rate", type=float, default=0.03, help="share of rows that are planted copies")
    parser.add_argument("--nprobe", type=int, default=DEDUP_PARAMS.nprobe)
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--sample", type=int, default=2000, help="rows of each exact recall reference")
    parser.add_argument("--exact-n", type=int, default=100_000, help="size of the side-by-side run; 0: none")
    parser.add_argument("--threads", type=int, default=None, help="FAISS threads (default: FAISS's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to append to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        data = _in_process(make_planted, args.n, args.d, args.dup_rate, args.seed, folder)
        print(f"data: {data}", flush=True)
        rows = [_in_process(simsearch_job, folder, args.n, args, True)]
        print(rows[-1], flush=True)
        if args.exact_n:
            rows.append(_in_process(simsearch_job, folder, args.exact_n, args, False))
            print(rows[-1], flush=True)
            rows.append(
                _in_process(exact_job, folder, args.exact_n, args)
                | {"method": "exact all-pairs (paraphrase_mining way)"}
            )
            print(rows[-1], flush=True)
    text = report(rows, data, args, argv)
    print(text)
    if not args.no_write:
        with open(args.results, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
