"""`simsearch serve` against a bare ASGI + FAISS app over the same index, under wrk.

Builds (once, in --workdir) an untrained 28x28 image model of dim 128 and an index of --n
synthetic clustered vectors (`make_synthetic`) with the default factory (IVF above 100k) beside
the model. Then starts, on loopback free ports, two servers on the same uvicorn (uvloop, httptools,
one process, one FAISS thread):

    simsearch   python -m simsearch serve --index INDEX (default settings: batching on)
    bare        this file's `bare_app`: ~25 lines of raw ASGI reading the JSON body, FAISS's
                search with the same nprobe, the labels mapped to ids, JSON out

and drives them with wrk (a compiled load generator: `apt-get install wrk`), 2 threads, at 16
and 64 connections, interleaved A B A B, each run --seconds long, every request
`POST /search {"vectors": [one of 256 query vectors], "k": 10}`. Searches by raw item (one
base64 PNG drawing, rerank 0: one tower call per micro-batch) are measured beside them on the
simsearch server. Both servers stop by themselves at the end (SIGTERM). Appends the table to
benchmarks/RESULTS.md.

    python benchmarks/bench_serve_speed.py                # ~3 minutes on 2 cores
    python benchmarks/bench_serve_speed.py --seconds 5 --no-write
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
REPO = Path(__file__).resolve().parents[1]
K = 10

_LUA = """
local bodies = {%s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/search", nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "p50_us": %%d, "p99_us": %%d, '
    .. '"errors": %%d, "non2xx": %%d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout,
    e.status))
end
"""


def bare_app(index_dir: str, nprobe: int) -> Any:
    """The bare ASGI app: JSON in, FAISS search, labels to ids, JSON out; nothing else."""
    import faiss

    from simsearch.index import load_index

    loaded = load_index(index_dir)
    index, ids = loaded.index_, loaded.ids.tolist()
    params = faiss.SearchParametersIVF(nprobe=nprobe) if "IVF" in loaded.factory_ else None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        xq = np.asarray(json.loads(body)["vectors"], dtype=np.float32)
        faiss.normalize_L2(xq)
        D, I = index.search(xq, K, params=params)  # noqa: E741
        rows = enumerate(zip(D.tolist(), I.tolist(), strict=True))
        results = [
            {"query": q, "hits": [{"id": ids[j], "distance": 1.0 - d} for d, j in zip(dq, iq, strict=True)]}
            for q, (dq, iq) in rows
        ]
        out = json.dumps({"results": results}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": out})

    return app


def serve_bare(index_dir: str, port: int, nprobe: int) -> None:
    import faiss
    import uvicorn

    faiss.omp_set_num_threads(1)
    app = bare_app(index_dir, nprobe)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def build(workdir: Path, n: int, seed: int) -> Path:
    """The model (untrained, dim 128) and the index of synthetic vectors, unless they are there."""
    index_dir = workdir / f"index-{n}"
    if (index_dir / "manifest.json").is_file():
        return index_dir
    from simsearch.engine import SearchEngine
    from simsearch.index import FaissIndex, IndexConfig, make_synthetic
    from simsearch.models import SiameseModel, build_head_model, build_image_tower
    from simsearch.models.towers import ImageTowerConfig

    config = {
        "kind": "image",
        "inputs": {"image_size": [28, 28], "channels": 1},
        "dim": 128,
        "metric": "cosine",
        "threshold": {"distance": 0.3, "probability": 0.5},
        "head": {"rerank_default": False},
    }
    tower = build_image_tower(ImageTowerConfig(blocks=2, filters=16, embedding_dim=128, invert=True))
    SiameseModel(tower, build_head_model(128), config).save(workdir / "model")
    model = SiameseModel.load(workdir / "model")
    xb, _ = make_synthetic(n, 128, seed=seed)
    ids = [f"item/{i}" for i in range(n)]
    index = FaissIndex(IndexConfig(metric="cosine", seed=seed)).build(xb, ids)
    SearchEngine(index, model, model_dir=workdir / "model").save(index_dir)
    return index_dir


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], log: Path, url: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server process; return it and its URL once it answers."""
    import httpx

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}
    offset = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as out:
        process = subprocess.Popen(args, cwd=REPO, stderr=out, stdout=out, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if url is None:
            found = re.search(r"on (http://\S+) \(writes", log.read_bytes()[offset:].decode(errors="replace"))
            url = found.group(1) if found else None
        if url is not None:
            try:
                httpx.post(f"{url}/search", json={"vectors": [[1.0] * 128], "k": K}, timeout=30)
                return process, url
            except httpx.TransportError:
                pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"a server did not start; see {log}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def lua_script(bodies: list[dict[str, Any]], path: Path) -> Path:
    path.write_text(_LUA % ",".join("[==[" + json.dumps(b) + "]==]" for b in bodies))
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, script: Path, connections: int, seconds: int, pid: int | None = None) -> dict[str, Any]:
    """One wrk run; with `pid`, the server's CPU time per request too (robust to a busy machine)."""
    cpu = cpu_seconds(pid) if pid is not None else 0.0
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout
    found = re.search(r"RESULT (\{.*\})", out)
    if found is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result = json.loads(found.group(1))
    result["rps"] = result["requests"] / result["seconds"]
    if pid is not None:
        result["cpu_us"] = 1e6 * (cpu_seconds(pid) - cpu) / max(result["requests"], 1)
    return result


def png_bodies(n: int, seed: int) -> list[dict[str, Any]]:
    from PIL import Image

    from simsearch.data.loaders import load_npz
    from simsearch.datasets import omniglot_sample

    images = load_npz(omniglot_sample("evaluation")).images
    rows = np.random.default_rng(seed).choice(len(images), n, replace=False)
    bodies = []
    for image in images[rows]:
        buffer = io.BytesIO()
        Image.fromarray((image[..., 0] * 255).astype(np.uint8)).save(buffer, format="PNG")
        bodies.append({"items": [base64.b64encode(buffer.getvalue()).decode()], "k": K, "rerank": 0})
    return bodies


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="A B pairs per connection count")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "simsearch-bench-speed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--bare", nargs=2, metavar=("INDEX", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare:
        from simsearch.index import SearchParams

        serve_bare(args.bare[0], int(args.bare[1]), SearchParams().nprobe)
        return
    if shutil.which("wrk") is None:
        parser.error("wrk not found: apt-get install wrk")
    import httpx

    args.workdir.mkdir(parents=True, exist_ok=True)
    index_dir = build(args.workdir, args.n, args.seed)
    from simsearch.index import make_synthetic, read_manifest

    _, xq = make_synthetic(1, 128, nq=256, seed=args.seed + 1)
    vectors = lua_script([{"vectors": [q.tolist()], "k": K} for q in xq], args.workdir / "vectors.lua")
    items = lua_script(png_bodies(64, args.seed), args.workdir / "items.lua")
    log = args.workdir / "servers.log"
    port = free_port()
    bare, bare_url = start(
        [sys.executable, __file__, "--bare", str(index_dir), str(port)], log, f"http://127.0.0.1:{port}"
    )
    ours = None
    try:
        serve = [sys.executable, "-m", "simsearch", "serve", "--index", str(index_dir), "--port", "0"]
        ours, url = start(serve, log)
        for target in (url, bare_url):
            wrk(target, vectors, 16, 2)  # warm-up
        rows = []
        for connections in args.connections:
            for round_ in range(args.rounds):
                for name, target, pid in (("bare", bare_url, bare.pid), ("simsearch", url, ours.pid)):
                    result = wrk(target, vectors, connections, args.seconds, pid)
                    rows.append({"server": name, "kind": "vector", "connections": connections,
                                 "round": round_, **result})
                    print(_line(rows[-1]), flush=True)
        first = json.loads(items.read_text().split("[==[")[1].split("]==]")[0])
        # the model loads on first use
        httpx.post(f"{url}/search", json=first, timeout=600).raise_for_status()
        wrk(url, items, 16, 2)  # warm-up
        for connections in args.connections[:1]:
            result = wrk(url, items, connections, args.seconds, ours.pid)
            row = {"server": "simsearch", "kind": "item", "connections": connections, "round": 0}
            rows.append({**row, **result})
            print(_line(rows[-1]), flush=True)
    finally:
        stop(bare)
        if ours is not None:
            stop(ours)
    text = report(rows, read_manifest(index_dir), args, argv)
    print(text)
    if not args.no_write:
        with open(args.results, "a") as f:
            f.write("\n" + text)


def _line(row: dict[str, Any]) -> str:
    return (
        f"| {row['server']} | {row['kind']} | {row['connections']} | {row['round'] + 1} | {row['rps']:,.0f} "
        f"| {row['p50_us'] / 1000:.2f} | {row['p99_us'] / 1000:.2f} | {row.get('cpu_us', float('nan')):,.0f} "
        f"| {row['errors'] + row['non2xx']} |"
    )


def ratios(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for connections in sorted({r["connections"] for r in rows if r["kind"] == "vector"}):
        pick = [r for r in rows if r["kind"] == "vector" and r["connections"] == connections]
        ours = [r for r in pick if r["server"] == "simsearch"]
        bare = [r for r in pick if r["server"] == "bare"]
        rps = [a["rps"] / b["rps"] for a, b in zip(ours, bare, strict=True)]
        p99 = [a["p99_us"] / b["p99_us"] for a, b in zip(ours, bare, strict=True)]
        cpu = [b["cpu_us"] / a["cpu_us"] for a, b in zip(ours, bare, strict=True)]
        out.append(
            f"- {connections} connections: requests/s simsearch / bare **{statistics.median(rps):.2f}x** "
            f"(median of pairs {', '.join(f'{r:.2f}' for r in rps)}); p99 simsearch / bare "
            f"**{statistics.median(p99):.2f}x** ({', '.join(f'{r:.2f}' for r in p99)}); server CPU per "
            f"request bare / simsearch **{statistics.median(cpu):.2f}x** "
            f"({', '.join(f'{r:.2f}' for r in cpu)})"
        )
    return out


def report(
    rows: list[dict[str, Any]], manifest: dict[str, Any], args: argparse.Namespace, argv: list[str]
) -> str:
    now = datetime.now(UTC)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    lines = [
        f"## `POST /search` by vector: simsearch serve against a bare ASGI + FAISS app (issue 23, "
        f"{now:%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Command: `{shlex.join(['python', 'benchmarks/bench_serve_speed.py', *argv])}`",
        f"- Machine: {platform.platform()}, {os.cpu_count()} cores shared with other developers' jobs "
        f"(load average {load} at the end); Python {platform.python_version()}; {wrk_version}, 2 threads, "
        "on the same cores as the servers",
        f"- Index: {manifest['count']:,} synthetic vectors ({manifest['factory']}, {manifest['metric']}, "
        f"dim {manifest['dim']}), default nprobe; both servers on uvicorn (uvloop, httptools), one "
        "process, one FAISS thread, loopback; each request one query vector (256 cycled), k=10; runs "
        f"of {args.seconds} s interleaved bare, simsearch, bare, simsearch; latency is wrk's (ms)",
        "- item: `POST /search` with one raw 28x28 PNG drawing, rerank 0 (the untrained dim-128 image "
        "tower, one tower call per micro-batch), on the simsearch server",
        "",
        "| server | search | connections | round | requests/s | p50 ms | p99 ms | server CPU µs/request "
        "| errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *(_line(r) for r in rows),
        "",
        *ratios(rows),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(sys.argv[1:])
