"""HTTP service under load: requests/s and p50/p99 latency of `simsearch serve` on loopback.

Builds (once, kept in --workdir) an index of 100k items with a trained model: the 3140 real
Omniglot evaluation drawings encoded by the model's tower, plus synthetic clustered vectors of the
same dim (`make_synthetic`) up to --n. Then starts the real server process (loopback, a free
port), once with micro-batching and once without, and for each scenario sends a fixed number of
requests from --concurrency concurrent clients (asyncio + httpx, in this process: the client
shares the 2 cores with the server), measuring each request's latency client-side:

    vector        POST /search {"vectors": [one query], "k": 10}
    item          POST /search {"items": [one base64 PNG drawing], "k": 10, "rerank": 0}
    item-rerank   the same with "rerank": 50 (the pairwise head re-scores 50 candidates)
    mixed         90% vector searches, 10% writes (adds of new vectors, deletes of earlier adds),
                  each write acknowledged only once synced to the journal

Finally times one checkpoint (`POST /checkpoint`: the whole 100k-item directory rewritten), the
cost a write would pay without the journal. Appends a section to benchmarks/RESULTS.md.

    python benchmarks/bench_server.py                      # ~3 minutes on 2 cores
    python benchmarks/bench_server.py --requests 500 --no-write
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
REPO = Path(__file__).resolve().parents[1]
SCENARIOS = ("vector", "item", "item-rerank", "mixed")
Request = tuple[str, str, dict[str, Any], str]  # method, path, body, kind


def build_index(model_dir: Path, n: int, path: Path, seed: int) -> dict[str, Any]:
    """Write the benchmark index (real drawings + synthetic vectors) unless it is there."""
    from simsearch.data.loaders import load_npz
    from simsearch.datasets import omniglot_sample
    from simsearch.engine import SearchEngine
    from simsearch.index import FaissIndex, IndexConfig, make_synthetic, read_manifest
    from simsearch.models import SiameseModel

    if (path / "manifest.json").is_file():
        return read_manifest(path)
    model = SiameseModel.load(model_dir)
    real = load_npz(omniglot_sample("evaluation"))
    xr = model.encode(real.images, batch_size=512)
    xs, _ = make_synthetic(n - len(xr), model.dim, seed=seed)
    xs *= np.linalg.norm(xr, axis=1).mean() / np.linalg.norm(xs, axis=1).mean()
    ids = [*real.ids.tolist(), *(f"synthetic/{i}" for i in range(len(xs)))]
    index = FaissIndex(IndexConfig(metric=model.metric, seed=seed)).build(np.concatenate([xr, xs]), ids)
    SearchEngine(index, model, model_dir=model_dir).save(path)
    return read_manifest(path)


def start_server(index: Path, batching: bool, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start `simsearch serve` on a free loopback port; return it and its URL once ready."""
    args = [
        sys.executable,
        "-m",
        "simsearch",
        "serve",
        "--index",
        str(index),
        "--port",
        "0",
        "--allow-writes",
    ]
    args.append("--batching" if batching else "--no-batching")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as out:
        process = subprocess.Popen(args, cwd=REPO, stderr=out, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"on (http://\S+) \(writes", log.read_bytes()[offset:].decode(errors="replace"))
        if found and _ready(found.group(1)):
            return process, found.group(1)
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not start; see {log}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)


def request_makers(queries: np.ndarray, images: list[str], seed: int) -> dict[str, Callable[[int], Request]]:
    """Per scenario, `make(worker) -> (method, path, body, kind)` for the next request."""
    rng = random.Random(seed)
    added: dict[int, list[str]] = {}
    counter = iter(range(10**9))

    def vector(_: int) -> Request:
        return (
            "POST",
            "/search",
            {"vectors": [queries[rng.randrange(len(queries))].tolist()], "k": 10},
            "search",
        )

    def item(depth: int) -> Callable[[int], Request]:
        def make(_: int) -> Request:
            body = {"items": [images[rng.randrange(len(images))]], "k": 10, "rerank": depth}
            return "POST", "/search", body, "search"

        return make

    def mixed(worker: int) -> Request:
        if rng.random() >= 0.1:
            return vector(worker)
        mine = added.setdefault(worker, [])
        if mine and rng.random() < 0.5:
            return "POST", "/items/delete", {"ids": [mine.pop()]}, "write"
        name = f"bench/{worker}/{next(counter)}"
        mine.append(name)
        return (
            "POST",
            "/items",
            {"ids": [name], "vectors": [queries[rng.randrange(len(queries))].tolist()]},
            "write",
        )

    return {"vector": vector, "item": item(0), "item-rerank": item(50), "mixed": mixed}


async def run_scenario(
    url: str, make: Callable[[int], Request], total: int, concurrency: int
) -> dict[str, Any]:
    """Send `total` requests from `concurrency` workers; latencies (s) by kind, wall time, errors."""
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []
    share = [total // concurrency + (w < total % concurrency) for w in range(concurrency)]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(w: int, client: httpx.AsyncClient) -> None:
        for _ in range(share[w]):
            method, path, body, kind = make(w)
            start = time.perf_counter()
            response = await client.request(method, path, json=body)
            latencies.setdefault(kind, []).append(time.perf_counter() - start)
            if response.status_code >= 300:
                errors.append(f"{response.status_code} {response.text[:200]}")

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(w, client) for w in range(concurrency)))
        wall = time.perf_counter() - start
    return {"latencies": latencies, "wall": wall, "errors": errors, "total": total}


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    every = np.concatenate([np.asarray(v) for v in result["latencies"].values()]) * 1000
    row = {
        "rps": result["total"] / result["wall"],
        "p50": np.percentile(every, 50),
        "p99": np.percentile(every, 99),
    }
    writes = result["latencies"].get("write")
    if writes:
        w = np.asarray(writes) * 1000
        row["write"] = (
            f"{len(w)} writes: p50 {np.percentile(w, 50):.1f} ms, p99 {np.percentile(w, 99):.1f} ms"
        )
    row["errors"] = len(result["errors"])
    return row


def png_images(n: int, seed: int) -> list[str]:
    from PIL import Image

    from simsearch.data.loaders import load_npz
    from simsearch.datasets import omniglot_sample

    images = load_npz(omniglot_sample("evaluation")).images
    rows = np.random.default_rng(seed).choice(len(images), n, replace=False)
    out = []
    for image in images[rows]:
        buffer = io.BytesIO()
        Image.fromarray((image[..., 0] * 255).astype(np.uint8)).save(buffer, format="PNG")
        out.append(base64.b64encode(buffer.getvalue()).decode())
    return out


def bench(args: argparse.Namespace, index: Path, dim: int) -> list[dict[str, Any]]:
    from simsearch.index import make_synthetic

    _, queries = make_synthetic(1, dim, nq=2000, seed=args.seed + 1)
    images = png_images(500, args.seed)
    rows = []
    for batching in (True, False):
        served = args.workdir / "served"
        shutil.rmtree(served, ignore_errors=True)
        shutil.copytree(index, served)  # every run starts from the same index
        process, url = start_server(served, batching, args.workdir / "server.log")
        try:
            makers = request_makers(queries, images, args.seed)
            for name in args.scenarios:
                total = args.requests if name in ("vector", "mixed") else args.item_requests
                asyncio.run(run_scenario(url, makers[name], min(100, total), args.concurrency))  # warm-up
                result = asyncio.run(run_scenario(url, makers[name], total, args.concurrency))
                rows.append({"scenario": name, "batching": batching, "requests": total, **summarise(result)})
                print(_line(rows[-1]), flush=True)
            if not batching:
                rows.append(_checkpoint(url))
        finally:
            stop_server(process)
    return rows


def _checkpoint(url: str) -> dict[str, Any]:
    start = time.perf_counter()
    response = httpx.post(f"{url}/checkpoint", timeout=600)
    response.raise_for_status()
    return {
        "scenario": "checkpoint",
        "seconds": time.perf_counter() - start,
        "count": response.json()["count"],
    }


def _line(row: dict[str, Any]) -> str:
    if row["scenario"] == "checkpoint":
        return f"checkpoint of {row['count']:,} items: {row['seconds']:.2f} s"
    extra = f"; {row['write']}" if "write" in row else ""
    return (
        f"| {row['scenario']} | {'on' if row['batching'] else 'off'} | {row['requests']:,} | "
        f"{row['rps']:,.0f} | {row['p50']:.1f} | {row['p99']:.1f} | {row['errors']}{extra} |"
    )


def report(rows: list[dict[str, Any]], manifest: dict[str, Any], args: argparse.Namespace, model: str) -> str:
    now = datetime.now(UTC)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"## HTTP service under load (issue 5, {now:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Command: `{' '.join(['python', 'benchmarks/bench_server.py', *sys.argv[1:]])}`",
        f"- Machine: {platform.platform()}, {os.cpu_count()} cores, shared (load average {load} at the end: "
        f"others' jobs may run on the same cores); Python {platform.python_version()}; the load generator "
        "runs on the same cores as the server",
        f"- Index: {manifest['count']:,} items ({manifest['factory']}, {manifest['metric']}, "
        f"dim {manifest['dim']}): "
        f"3,140 real Omniglot evaluation drawings encoded by `{model}` plus synthetic clustered vectors; "
        f"loopback, {args.concurrency} concurrent clients (asyncio + httpx), k=10, default SearchParams",
        "- Latency is client-side per request (ms); requests/s = requests / wall time of the run",
        "",
        "| scenario | micro-batching | requests | requests/s | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    lines += [_line(row) for row in rows if row["scenario"] != "checkpoint"]
    lines += [
        "",
        *(
            f"- {_line(row)} (`POST /checkpoint`; what every write would cost without the journal)"
            for row in rows
            if row["scenario"] == "checkpoint"
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=REPO / "runs" / "omni_c", help="trained model directory"
    )
    parser.add_argument("--n", type=int, default=100_000, help="items in the index")
    parser.add_argument("--requests", type=int, default=3000, help="requests per vector / mixed scenario")
    parser.add_argument("--item-requests", type=int, default=800, help="requests per item scenario")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "simsearch-bench-server"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS, help="Markdown file to append to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if not (args.model / "tower.keras").is_file():
        parser.error(
            f"no trained model at {args.model}: train one (see RESULTS.md, Omniglot) or pass --model"
        )
    args.workdir.mkdir(parents=True, exist_ok=True)
    index = args.workdir / f"index-{args.n}"
    manifest = build_index(args.model, args.n, index, args.seed)
    rows = bench(args, index, manifest["dim"])
    text = report(rows, manifest, args, args.model.name)
    print(text)
    if not args.no_write:
        with open(args.results, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
