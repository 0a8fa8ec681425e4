"""Benchmark `build-index --target-recall`: the index chosen for a recall target (and memory) vs
the default index, by recall@10, memory and query speed.

Data: the "synthetic" set (`simsearch.index.make_synthetic`: seeded clusters of intrinsic rank 8),
d=128 by default, with fresh queries from the same clusters (not catalogue rows); the ground truth
is exact k-NN by `faiss.knn`. With `--real-model` and `--real-data`, also real embeddings: the
Omniglot drawings of an .npz (background and evaluation) encoded by an image tower.

For each size, the default index (`FaissIndex` with `default_factory`, `SearchParams()`) and the
chosen one (`build_for_budget`, as `build-index --target-recall` runs it) are measured the same
way: recall@10 of the fresh queries, memory (the FAISS index serialised plus the float vectors
kept, `n * d * 4`), batch ms/query, single-query p50 ms, and build time (for the chosen one, the
whole choice: every candidate built and measured). Appends a table to benchmarks/RESULTS.md.

    python benchmarks/bench_index_budget.py --n 100000 --target-recall 0.95
    python benchmarks/bench_index_budget.py --n 1000000 --kinds Flat IVF SQ8 --max-memory 1.2GB
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

from simsearch.index import FaissIndex, IndexConfig, make_synthetic
from simsearch.index.budget import KINDS, Budget, build_for_budget, recall_at_k, size_text

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def exact(
    xb: npt.NDArray[np.float32], xq: npt.NDArray[np.float32], k: int, metric: str
) -> npt.NDArray[np.int64]:
    if metric == "cosine":
        xb, xq = (
            xb / np.linalg.norm(xb, axis=1, keepdims=True),
            xq / np.linalg.norm(xq, axis=1, keepdims=True),
        )
    _, found = faiss.knn(
        xq, xb, k, metric=faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    )
    return found


def measure(
    index: FaissIndex, xq: npt.NDArray[np.float32], truth: npt.NDArray[np.int64], k: int, single: int
) -> dict[str, Any]:
    """Recall@k, memory, batch and single-query times of `index` at its default query settings."""
    recall = recall_at_k(index.search(xq, k).ids, truth)
    batches = []
    for _ in range(3):
        start = time.perf_counter()
        index.search(xq, k)
        batches.append(time.perf_counter() - start)
    singles = []
    for row in xq[:single]:
        start = time.perf_counter()
        index.search(row[None], k)
        singles.append(time.perf_counter() - start)
    return {
        "recall": recall,
        "memory": len(faiss.serialize_index(index.index_)) + len(index) * index.dim * 4,
        "batch_ms": min(batches) * 1000 / len(xq),
        "single_ms": statistics.median(singles) * 1000,
    }


def run(
    name: str, xb: npt.NDArray[np.float32], xq: npt.NDArray[np.float32], args: argparse.Namespace
) -> list[dict[str, Any]]:
    n, d = xb.shape
    ids = np.arange(n)
    truth = exact(xb, xq, args.k, args.metric)
    start = time.perf_counter()
    config = IndexConfig(metric=args.metric, seed=args.seed, train_size=args.train_size)
    default = FaissIndex(config).build(xb, ids)
    row_default = {
        "data": name,
        "n": n,
        "d": d,
        "index": "default",
        "factory": default.factory_,
        "params": _params(default),
        "build_s": time.perf_counter() - start,
        "tuned": None,
    }
    row_default |= measure(default, xq, truth, args.k, args.single)
    del default
    budget = Budget(args.target_recall, max_memory=args.max_memory, k=args.k, n_queries=args.queries,
                    seed=args.seed, kinds=tuple(args.kinds) if args.kinds else None)  # fmt: skip
    start = time.perf_counter()
    chosen, choice = build_for_budget(
        xb, ids, config=IndexConfig(metric=args.metric, seed=args.seed), budget=budget
    )
    built_s = time.perf_counter() - start
    row_chosen = {"data": name, "n": n, "d": d, "index": f"chosen ({args.target_recall:g})",
                  "factory": chosen.factory_, "params": _params(chosen), "build_s": built_s,
                  "tuned": choice.trial.recall, "tried": [t.factory for t in choice.trials]}  # fmt: skip
    row_chosen |= measure(chosen, xq, truth, args.k, args.single)
    for row in (row_default, row_chosen):
        print({key: value for key, value in row.items() if key != "tried"}, flush=True)
    return [row_default, row_chosen]


def _params(index: FaissIndex) -> str:
    if index.factory_.startswith("HNSW"):
        return f"efSearch {index.search_defaults.ef_search}"
    return f"nprobe {index.search_defaults.nprobe}" if "IVF" in index.factory_ else "-"


def omniglot(
    model_dir: Path, data: Path, nq: int, seed: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Every Omniglot drawing of `data`'s npz files encoded by the image tower in `model_dir`;
    `nq` of them (seeded) are the queries, the rest the catalogue."""
    from simsearch.data import load_items
    from simsearch.models.siamese import SiameseModel

    model = SiameseModel.load(model_dir)
    size = tuple(model.config["inputs"]["image_size"])
    parts = [load_items(path, image_size=size) for path in sorted(data.glob("*.npz"))]
    vectors = np.concatenate([model.encode(p.content(), batch_size=512) for p in parts]).astype(np.float32)
    rng = np.random.default_rng(seed)
    held = np.zeros(len(vectors), bool)
    held[rng.choice(len(vectors), nq, replace=False)] = True
    return vectors[~held], vectors[held]


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| data | n | index | factory | query setting | recall@10 fresh queries | recall@10 measured "
            "when chosen | memory | batch ms/query | single ms (p50) | build s |")  # fmt: skip
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        tuned = "" if r["tuned"] is None else f"{r['tuned']:.4f}"
        cells = [r["data"], f"{r['n']:,}", r["index"], f"`{r['factory']}`", r["params"], f"{r['recall']:.4f}",
                 tuned, size_text(r["memory"]), f"{r['batch_ms']:.4f}", f"{r['single_ms']:.3f}",
                 f"{r['build_s']:.1f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(rows: list[dict[str, Any]], args: argparse.Namespace, argv: list[str]) -> str:
    now = datetime.datetime.now(datetime.UTC)
    tried = {f"{r['data']} {r['n']:,}": r["tried"] for r in rows if r.get("tried")}
    memory = "none" if args.max_memory is None else size_text(args.max_memory)
    return "\n".join([
        f"## Index for a budget: --target-recall {args.target_recall:g} vs the default "
        f"({now:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Command: `python benchmarks/bench_index_budget.py {shlex.join(argv)}`",
        f"- Machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} cores, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end; Python {platform.python_version()}, "
        f"faiss {faiss.__version__} on {faiss.omp_get_max_threads()} thread(s), numpy {np.__version__}",
        f"- Data: synthetic = `make_synthetic(n, {args.d}, seed={args.seed})` (SYNTHETIC clustered vectors, "
        f"not embeddings), {args.nq} fresh queries; metric {args.metric}; max memory {memory}; "
        f"IVF/PQ training rows {args.train_size or 'max(65536, 64 nlist)'}; "
        f"kinds tried: {tried}",
        "- Memory: the FAISS index serialised + the float vectors `FaissIndex` keeps (n * d * 4 bytes); "
        "batch = all queries in one call; single = one query a call, median.",
        "",
        table(rows),
        "",
    ])  # fmt: skip


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100_000], help="catalogue sizes (synthetic)")
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--metric", choices=["cosine", "l2"], default="cosine")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--max-memory", type=_size, default=None, help="e.g. 2GB, 1.5GiB")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, help="families to try (default: all)")
    parser.add_argument("--queries", type=int, default=500, help="held-out rows the choice measures on")
    parser.add_argument("--nq", type=int, default=1000, help="fresh queries the table measures on")
    parser.add_argument("--single", type=int, default=200, help="single queries timed")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--train-size", type=int, help="rows IVF/PQ train on (default: max(65536, 64 nlist))")
    parser.add_argument("--threads", type=int, default=None, help="FAISS threads (default: FAISS's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-model", type=Path, help="an image tower directory (e.g. models/demo)")
    parser.add_argument("--real-data", type=Path, help="a folder of Omniglot .npz files")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to append to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    rows = []
    for n in args.n:
        xb, xq = make_synthetic(n, args.d, nq=args.nq, seed=args.seed)
        rows += run("synthetic", xb, xq, args)
    if args.real_model and args.real_data:
        xb, xq = omniglot(args.real_model, args.real_data, args.nq, args.seed)
        rows += run(f"Omniglot ({args.real_model.name} tower)", xb, xq, args)
    text = report(rows, args, argv)
    print(text)
    if not args.no_write:
        with open(args.results, "a") as f:
            f.write("\n" + text)


def _size(text: str) -> int:
    from simsearch.cli._vectors import BYTES

    return int(BYTES.convert(text, None, None))


if __name__ == "__main__":
    main(sys.argv[1:])
