"""What re-ranking by the pairwise head gains over distance alone, and what it costs.

Labelled items (every item with another of its class queries the rest, itself left out):

    .venv/bin/python benchmarks/bench_rerank.py --model runs/omni_b \\
        --data ../shared/data/omniglot/omniglot_images_evaluation.npz --image-size 28

Product matching (each left item of a matching test pair queries the right catalogue):

    .venv/bin/python benchmarks/bench_rerank.py --model models/abt_buy \\
        --pairs .../Abt-Buy/test.csv --catalog .../Abt-Buy/tableA.csv --catalog .../Abt-Buy/tableB.csv

Reports precision@1 and recall@k by distance and after re-ranking the top N, and the latency per
single query with and without re-ranking; appends a table to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--pairs", type=Path)
    parser.add_argument("--catalog", type=Path, action="append", default=[])
    parser.add_argument("--depths", default="10,20,50")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def item_task(args: argparse.Namespace, model):
    """(index ids, vectors, query vectors, query ids to leave out, relevant-id sets)."""
    from simsearch.data.loaders import load_items

    size = None if args.image_size is None else (args.image_size, args.image_size)
    items = load_items(args.data, image_size=size)
    xb = model.encode(items.content())
    rng = np.random.default_rng(args.seed)
    counts = np.bincount(items.labels[items.labels >= 0])
    eligible = np.flatnonzero((items.labels >= 0) & (counts[np.maximum(items.labels, 0)] >= 2))
    q = rng.choice(eligible, size=min(args.queries, eligible.size), replace=False)
    ids = items.ids.astype(str)
    relevant = [set(ids[(items.labels == items.labels[i]) & (np.arange(len(ids)) != i)]) for i in q]
    return ids, xb, xb[q], list(ids[q]), relevant, f"{args.data.name} ({len(items)} items, {len(q)} queries)"


def pair_task(args: argparse.Namespace, model):
    from simsearch.data.loaders import load_pairs, load_table

    spec = model.config["inputs"]
    fields = [*spec.get("text_fields", []), *spec.get("numeric_fields", [])]
    left = load_table(args.catalog[0], fields=fields)
    right = load_table(args.catalog[1], fields=fields)
    pairs = load_pairs(args.pairs, left, right)
    matched = sorted(set(pairs.left[pairs.same == 1].tolist()))
    relevant = [
        set(right.ids[pairs.right[(pairs.same == 1) & (pairs.left == i)]].astype(str)) for i in matched
    ]
    xq = model.encode(left.subset(np.array(matched)).content())
    xb = model.encode(right.content())
    name = f"{args.pairs.parent.name} {args.pairs.name} ({len(right)} right items, {len(matched)} queries)"
    return right.ids.astype(str), xb, xq, [None] * len(matched), relevant, name


def measure(searcher, xq, exclude, relevant, depth: int, ks=(1, 5, 10)) -> dict[str, float]:
    hits = searcher.search(xq, k=max(ks), rerank=depth, exclude=exclude if exclude[0] is not None else None)
    out = {}
    for k in ks:
        out[f"recall@{k}"] = float(
            np.mean([bool(rel & {h.id for h in row[:k]}) for row, rel in zip(hits, relevant, strict=True)])
        )
    out["precision@1"] = out["recall@1"]
    return out


def latency_ms(searcher, xq, depth: int, n: int) -> float:
    start = time.perf_counter()
    for row in xq[:n]:
        searcher.search(row[None], k=10, rerank=depth)
    return 1000 * (time.perf_counter() - start) / min(n, len(xq))


def main() -> None:
    args = parse_args()
    from simsearch.index import FaissIndex, IndexConfig
    from simsearch.models import SiameseModel
    from simsearch.search.searcher import Searcher

    model = SiameseModel.load(args.model)
    ids, xb, xq, exclude, relevant, name = (pair_task if args.pairs else item_task)(args, model)
    index = FaissIndex(IndexConfig(metric=model.metric, factory="Flat")).build(xb, ids)
    searcher = Searcher(index, score_pairs=model.score_pairs)
    rows = [
        (
            "distance only",
            measure(searcher, xq, exclude, relevant, 0),
            latency_ms(searcher, xq, 0, args.latency_queries),
        )
    ]
    for depth in (int(d) for d in args.depths.split(",")):
        rows.append(
            (
                f"re-rank top {depth}",
                measure(searcher, xq, exclude, relevant, depth),
                latency_ms(searcher, xq, depth, args.latency_queries),
            )
        )
    head = model.config.get("head", {})
    lines = [
        "",
        f"### Re-ranking by the pairwise head — {name} — {dt.date.today().isoformat()}",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_rerank.py --model {args.model} "
        + (f"--data {args.data}" if args.data else f"--pairs {args.pairs} --catalog ... --catalog ...")
        + f"` on {platform.machine()}, {os.cpu_count()} CPU cores; Flat index, single-query latency "
        f"over {args.latency_queries} queries. The model's own held-out check chose re-ranking "
        f"{'on' if head.get('rerank_default') else 'off'} by default "
        f"(precision@1 {head.get('tower_precision_at_1', float('nan')):.3f} by distance vs "
        f"{head.get('head_precision_at_1', float('nan')):.3f} by the head on held-out classes).",
        "",
        "| ranking | precision@1 | recall@5 | recall@10 | ms per query |",
        "|---|---|---|---|---|",
    ]
    for label, metrics, ms in rows:
        lines.append(
            f"| {label} | {metrics['precision@1']:.4f} | {metrics['recall@5']:.4f} | "
            f"{metrics['recall@10']:.4f} | {ms:.2f} |"
        )
    print("\n".join(lines))
    with args.results.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
