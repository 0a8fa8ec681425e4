"""Benchmark the Dask engine (`--engine dask`) with 1, 2 and 4 local workers: throughput per stage.

Data: 1M SYNTHETIC vectors, the set of `bench_dedup.py` (`make_synthetic` clusters of rank 8,
d=128, 3% planted near-copies, shuffled), generated once in its own process and read by the
workers from an `.npy` file: the "vector source" stands in for the encoding stage at 1M, which a
real tower would take hours to run on two cores. The encoding stage is measured on its own, with
a real (tiny, freshly trained) image tower on real Omniglot images written as PNG files.

Per worker count, on a `LocalCluster` of process workers (one thread each, FAISS on one thread):

    load      each partition task reads its rows (the vector source)
    train     the driver trains the IVF quantizer on the seeded sample (not parallel, by design)
    add       partition tasks add their rows to copies of the trained index; the driver merges
    items     the driver gathers ids and embeddings for items.h5
    save      save_index
    warm      every worker loads the index directory (once per worker, cached)
    dedup     self-join blocks on the workers, pairs shuffled into Parquet parts
    group     group_pairs on the driver

    python benchmarks/bench_scale.py                      # 1M, workers 1 2 4, encode 12,560 images
    python benchmarks/bench_scale.py --n 100000 --workers 1 2 --encode-n 2000 --no-write
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from simsearch.dedup import PairFilter, group_pairs
from simsearch.distributed import EncodedPart, JoinSpec, build_from_parts, connect, find_duplicates_dask
from simsearch.distributed.encode import encode_catalog
from simsearch.index import IndexConfig, SearchParams, save_index

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
sys.path.insert(0, str(Path(__file__).resolve().parent))


# ---- tasks (run on the workers) -------------------------------------------------------------


def load_rows(path: str, start: int, stop: int) -> EncodedPart:
    """One partition of the vector source: rows `start:stop` of the `.npy` file, ids = row numbers."""
    xb = np.ascontiguousarray(np.load(path, mmap_mode="r")[start:stop])
    return EncodedPart(np.arange(start, stop, dtype=np.int64), xb, np.full(stop - start, None, object))


def peak_gb() -> float:
    """This process's peak resident memory (driver)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def rss_gb() -> float:
    """A worker's resident memory now. Not its `ru_maxrss`: Linux keeps that across fork and exec,
    so a worker started by a driver that already held 2.6 GB would report 2.6 GB."""
    import psutil

    return float(psutil.Process().memory_info().rss / 2**30)


def warm_index(index_dir: str) -> int:
    from simsearch.distributed import worker_cache

    return len(worker_cache().index(index_dir).index)


def warm_model(model_dir: str) -> int:
    from simsearch.distributed import worker_cache

    return int(worker_cache().model(model_dir).dim)


def on_every_worker(client: Any, func: Any, *args: Any) -> list[Any]:
    """Run `func` as a task on each worker (pinned), in parallel; its cache is the task's."""
    futures = [
        client.submit(func, *args, workers=[address], allow_other_workers=False, pure=False)
        for address in client.nthreads()
    ]
    return list(client.gather(futures))


# ---- the pipeline at 1M ---------------------------------------------------------------------


def pipeline(workers: int, xb_path: Path, n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"workers": workers}
    start = time.perf_counter()
    with connect(workers=workers, threads_per_worker=1, processes=True) as client:
        out["cluster_s"] = time.perf_counter() - start
        cuts = np.linspace(0, n, args.partitions + 1).round().astype(int)
        t = time.perf_counter()
        parts = [
            client.submit(load_rows, str(xb_path), int(a), int(b), pure=False)
            for a, b in itertools.pairwise(cuts)
        ]
        client.gather(client.map(len, parts, pure=False))
        out["load_s"] = time.perf_counter() - t
        timings: dict[str, float] = {}
        index = build_from_parts(client, parts, IndexConfig(metric="cosine"), timings)
        out |= {f"{k}_s": v for k, v in timings.items()} | {"factory": index.factory_}
        del parts
        t = time.perf_counter()
        index_dir = save_index(tmp / f"index-{workers}", index)
        out["save_s"] = time.perf_counter() - t
        t = time.perf_counter()
        on_every_worker(client, warm_index, str(index_dir.resolve()))
        out["warm_s"] = time.perf_counter() - t
        pair_filter = PairFilter(k=args.k, max_distance=args.threshold)
        spec = JoinSpec(pair_filter, params=SearchParams(nprobe=args.nprobe))
        t = time.perf_counter()
        pairs = find_duplicates_dask(client, index_dir, index.ids, spec, tmp / f"pairs-{workers}.parquet",
                                     partitions=workers)  # fmt: skip
        out["dedup_s"] = time.perf_counter() - t
        t = time.perf_counter()
        groups = group_pairs(index.ids, pairs, max_distance=args.threshold)
        out["group_s"] = time.perf_counter() - t
        out["worker_rss_gb"] = max(on_every_worker(client, rss_gb))  # after the dedup, index loaded
    out |= {"total_s": time.perf_counter() - start, "driver_peak_gb": peak_gb(), "pairs": len(pairs),
            "groups": int(np.sum(np.bincount(groups) > 1)), "pair_key": _pair_key(pairs)}  # fmt: skip
    print(f"  {workers} worker(s): {out}", flush=True)
    return out


def _pair_key(pairs: Any) -> int:
    """A checksum of the pairs, to show every worker count found the same ones."""
    return int(np.bitwise_xor.reduce(pairs.left_ids * 1_000_003 + pairs.right_ids)) if len(pairs) else 0


# ---- encoding with a real tower -------------------------------------------------------------


def write_images(folder: Path, n: int) -> int:
    from PIL import Image

    from simsearch.datasets import omniglot_sample

    images = np.load(omniglot_sample("evaluation"))["images"]
    for i in range(n):
        sub = folder / f"c{i % 50:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i % len(images)]).save(sub / f"{i:06d}.png")
    return n


def tiny_image_model(folder: Path) -> Path:
    """Train a tiny image model (1 epoch of 3 steps): the encoding rate does not depend on weights."""
    from simsearch.datasets import omniglot_sample

    out = folder / "model"
    cmd = [sys.executable, "-m", "simsearch", "train", "--data", str(omniglot_sample("background")),
           "--tower", "image", "--invert", "--loss", "softmax", "--out", str(out), "--epochs", "1",
           "--steps-per-epoch", "3", "--batch-size", "32", "--classes-per-batch", "8", "--head-epochs", "1",
           "--quiet"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def encode_rates(
    model: Path, images: Path, n: int, workers: list[int], args: argparse.Namespace
) -> list[dict[str, Any]]:
    rows = []
    for w in workers:
        with connect(workers=w, threads_per_worker=1, processes=True) as client:
            t = time.perf_counter()
            on_every_worker(client, warm_model, str(model.resolve()))
            tower_s = time.perf_counter() - t
            t = time.perf_counter()
            parts = encode_catalog(client, model, images, partitions=args.encode_partitions, batch_size=256)
            total = sum(client.gather(client.map(len, parts, pure=False)))
            seconds = time.perf_counter() - t
        rows.append({"workers": w, "items": total, "tower_load_s": tower_s, "encode_s": seconds,
                     "items_per_s": total / seconds})  # fmt: skip
        print(f"  encode, {w} worker(s): {rows[-1]}", flush=True)
    rows.append(local_encode_rate(model, images, n))
    return rows


def local_encode_rate(model_dir: Path, images: Path, n: int) -> dict[str, Any]:
    """The local engine's reading and encoding of the same folder, in this process."""
    from simsearch.data.loaders import load_items
    from simsearch.engine import encode_batches
    from simsearch.models.siamese import SiameseModel

    model = SiameseModel.load(model_dir)
    t = time.perf_counter()
    items = load_items(images, image_size=(28, 28), labelled=False)
    vectors = encode_batches(model, items.content(), len(items), 256)
    seconds = time.perf_counter() - t
    row = {"workers": "local", "items": len(vectors), "tower_load_s": 0.0, "encode_s": seconds,
           "items_per_s": len(vectors) / seconds}  # fmt: skip
    print(f"  encode, local engine: {row}", flush=True)
    return row


# ---- report ---------------------------------------------------------------------------------


def report(
    args: argparse.Namespace, runs: list[dict[str, Any]], encodes: list[dict[str, Any]], data: dict[str, Any]
) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Dask engine: 1, 2, 4 local workers (issue 7) ({when})",
        "",
        f"- Command: `{' '.join(['python benchmarks/bench_scale.py', *sys.argv[1:]])}`",
        f"- Machine: {platform.platform()}, {os.cpu_count()} CPU cores, shared with other jobs "
        f"(load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end); Python "
        f"{platform.python_version()}, faiss {faiss.__version__}, dask {_dask_version()}",
        f"- Data: {args.n:,} SYNTHETIC vectors (bench_dedup's set: `make_synthetic`, rank 8, d=128, "
        f"3% planted near-copies), cosine, generated in {data['seconds']:.0f} s in its own process, "
        f"not timed; {args.partitions} partitions; dedup k={args.k}, threshold {args.threshold}, "
        f"nprobe {args.nprobe}",
        "- Cluster: `LocalCluster` of process workers, 1 thread each (FAISS 1 thread per worker); the "
        "driver (this process) trains with FAISS on all cores",
        "",
        "| workers | cluster s | load s | train s (driver) | add+merge s | items s | save s | warm s "
        "| dedup s | group s | total s | add items/s | dedup items/s | driver peak GB | worker RSS GB at end "
        "| pairs | checksum |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['workers']} | {r['cluster_s']:.1f} | {r['load_s']:.1f} | {r['train_s']:.1f} | "
            f"{r['add_merge_s']:.1f} | {r['items_s']:.1f} | {r['save_s']:.1f} | {r['warm_s']:.1f} | "
            f"{r['dedup_s']:.1f} | {r['group_s']:.1f} | {r['total_s']:.1f} | "
            f"{args.n / r['add_merge_s']:,.0f} | {args.n / r['dedup_s']:,.0f} | "
            f"{r['driver_peak_gb']:.2f} | {r['worker_rss_gb']:.2f} | "
            f"{r['pairs']:,} | {r['pair_key']:x} |"
        )
    if encodes:
        lines += [
            "",
            f"Encoding with a real tower (the default image tower, 28x28, dim 128, trained 3 steps; "
            f"{encodes[0]['items']:,} real Omniglot images as PNG files, {args.encode_partitions} "
            "partitions, batch 256; reading and decoding the files included):",
            "",
            "| workers | tower load s (once per worker, in parallel) | encode s | items/s |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {e['workers']} | {e['tower_load_s']:.1f} | {e['encode_s']:.1f} | {e['items_per_s']:,.0f} |"
            for e in encodes
        ]
    return "\n".join(lines) + "\n"


def _dask_version() -> str:
    import dask

    return str(dask.__version__)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threshold", type=float, default=0.01)
    parser.add_argument("--nprobe", type=int, default=8)
    parser.add_argument(
        "--encode-n", type=int, default=12_560, help="images for the encoding stage (0: skip)"
    )
    parser.add_argument("--encode-partitions", type=int, default=16)
    parser.add_argument(
        "--model", type=Path, help="image model for the encoding stage (default: train a tiny one)"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="print the section, do not append it to RESULTS.md"
    )
    args = parser.parse_args()
    from bench_dedup import _in_process, make_planted

    with tempfile.TemporaryDirectory(prefix="bench_scale_") as name:
        tmp = Path(name)
        print(f"generating {args.n:,} synthetic rows...", flush=True)
        data = _in_process(make_planted, args.n, 128, 0.03, 0, name)
        runs = [pipeline(w, tmp / "xb.npy", args.n, args, tmp) for w in args.workers]
        encodes: list[dict[str, Any]] = []
        if args.encode_n:
            write_images(tmp / "images", args.encode_n)
            model = args.model or tiny_image_model(tmp)
            encodes = encode_rates(model, tmp / "images", args.encode_n, args.workers, args)
    section = report(args, runs, encodes, data)
    print(section)
    if not args.no_write:
        with RESULTS.open("a") as f:
            f.write("\n" + section)


if __name__ == "__main__":
    main()
