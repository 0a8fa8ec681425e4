"""The HTTP API against its own OpenAPI description at scale: schemathesis over every operation of
a real `simsearch serve --api-key --review --catalog` process, requests that follow the schema
(positive) and requests that break it (negative), each response checked by
`tests/server/schema_fuzz.py`'s checks: no server error, status code documented, Content-Type
documented, body valid against the documented schema.

The served index is tests/server/conftest.py's: the first 60 drawings of the bundled Omniglot
evaluation sample under an untrained 28x28 image model of dim 16 (the plumbing is under test),
with 11 review pairs between consecutive drawings and the sample as the catalogue. The test suite
runs the same checks with 25 requests per operation and mode; this sends up to --examples per
operation and mode, in one derandomised run, and appends a section to benchmarks/RESULTS.md with
the cases, the failures by check and operation, the time, the machine and its load.

    python benchmarks/bench_schema.py                       # >= 20,000 cases
    python benchmarks/bench_schema.py --examples 50 --no-write
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
sys.path.insert(0, str(REPO))

from tests.server.conftest import API_KEY, DIM, N_ITEMS, Server  # noqa: E402
from tests.server.schema_fuzz import CHECKS, Tally, fuzz, operations, write_review_pairs  # noqa: E402


def build(root: Path) -> tuple[Path, Path, Path]:
    """The test suite's model and index (and the review pairs) under `root`; `(index, pairs, catalogue)`."""
    from simsearch.data.loaders import load_npz
    from simsearch.datasets import omniglot_sample
    from simsearch.engine import build_index
    from simsearch.models import SiameseModel, build_head_model, build_image_tower
    from simsearch.models.towers import ImageTowerConfig

    catalogue = omniglot_sample("evaluation")
    tower = build_image_tower(ImageTowerConfig(blocks=1, filters=8, embedding_dim=DIM, invert=True))
    config = {
        "kind": "image",
        "inputs": {"image_size": [28, 28], "channels": 1},
        "dim": DIM,
        "metric": "cosine",
        "threshold": {"distance": 0.3, "probability": 0.5},
        "head": {"rerank_default": False},
    }
    SiameseModel(tower, build_head_model(DIM), config).save(root / "model")
    items = load_npz(catalogue).subset(np.arange(N_ITEMS))
    build_index(root / "model", items, root / "index", factory="Flat")
    pairs = write_review_pairs(items.ids[:12].tolist(), root / "pairs.jsonl")
    return root / "index", pairs, catalogue


def run(root: Path, examples: int) -> tuple[Tally, int, float]:
    """Serve the index and fuzz every operation; `(tally, operations, seconds)`."""
    from schemathesis import GenerationMode

    index, pairs, catalogue = build(root)
    server = Server(
        index,
        "--api-key",
        API_KEY,
        "--review",
        str(pairs),
        "--catalog",
        str(catalogue),
        "--retrain-dir",
        str(root / "retrain"),
        log=root / "server.log",
    ).start()
    tally = Tally()
    started = time.monotonic()
    try:
        found = operations(server.url)
        for operation in found:
            for mode in GenerationMode:
                before = tally.cases
                fuzz(operation, mode, examples, {"X-API-Key": API_KEY}, tally)
                print(f"{operation.label} {mode.value}: {tally.cases - before} cases", flush=True)
    finally:
        seconds = time.monotonic() - started
        server.stop()
    if "Traceback" in server.log.read_text(errors="replace"):
        tally.failures["server log has a traceback"] += 1
        tally.examples["server log has a traceback"] = str(server.log)
    return tally, len(found), seconds


def report(tally: Tally, n_operations: int, seconds: float, examples: int, load: tuple[float, ...]) -> str:
    by_check = Counter({name: 0 for name in CHECKS})
    for key, n in tally.failures.items():
        by_check[key.split(" ", 1)[0]] += n
    cpu = _cpu_name()
    after = os.getloadavg()
    lines = [
        f"## OpenAPI conformance under schemathesis (issue 27, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"`python benchmarks/bench_schema.py --examples {examples}`: {tally.cases} cases over "
        f"{n_operations} operations (positive and negative), {seconds:.0f} s "
        f"({tally.cases / max(seconds, 1e-9):.1f} cases/s), on {os.cpu_count()} cores ({cpu}, "
        f"{platform.system()} {platform.release()}), load average {load[0]:.2f} / {load[1]:.2f} / "
        f"{load[2]:.2f} at the start and {after[0]:.2f} / {after[1]:.2f} / {after[2]:.2f} at the end "
        "(1 / 5 / 15 min).",
        "",
        "| check | failures |",
        "|---|---|",
        *(f"| {name} | {n} |" for name, n in by_check.items()),
    ]
    if tally.failures:
        lines += ["", "Failures by check and operation (the first response of each):", ""]
        lines += [f"- `{key}`: {n} ({tally.examples[key]})" for key, n in sorted(tally.failures.items())]
    return "\n".join(lines) + "\n"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--examples", type=int, default=800, help="Most requests per operation and mode (default 800)."
    )
    parser.add_argument(
        "--workdir", type=Path, help="Where the model, index and server log go (default: a temp dir)."
    )
    parser.add_argument("--no-write", action="store_true", help="Print the section without appending it.")
    args = parser.parse_args()
    load = os.getloadavg()
    root = args.workdir or Path(tempfile.mkdtemp(prefix="bench-schema-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        tally, n_operations, seconds = run(root, args.examples)
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    section = report(tally, n_operations, seconds, args.examples, load)
    print(section)
    if not args.no_write:
        with open(RESULTS, "a") as f:
            f.write("\n" + section)


if __name__ == "__main__":
    main()
