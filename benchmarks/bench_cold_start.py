"""Cold start of a one-off `simsearch query`: wall time of fresh processes, and where it goes.

Builds (once, in --workdir) an untrained record model over Abt-Buy's tableA (name, description,
price; 1081 items; the TF-IDF tower of a trained model has the same size) and its Flat index,
then runs `python -m simsearch query --index ... --record '{"name": "sony turntable"}' -k 5`
--runs times in fresh processes (median wall), and once more a child process that times each
phase in order: the CLI import, Keras+TensorFlow, the rest of `simsearch.models`, the tower, the
head, the index, encode+search. Appends a section to benchmarks/RESULTS.md with --record.

    python benchmarks/bench_cold_start.py --runs 5 [--record "before"]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO.parent / "shared" / "data" / "product_matching" / "deepmatcher" / "Abt-Buy" / "tableA.csv"
QUERY = '{"name": "sony turntable"}'

_PHASES = """
import json, sys, time
t = [time.perf_counter()]
def mark(): t.append(time.perf_counter())
import simsearch.cli; mark()
import keras; mark()
import simsearch.models; mark()
from pathlib import Path
from simsearch.engine import SearchEngine
root = Path(sys.argv[1])
engine = SearchEngine.load(root / "index"); mark()
engine.model.score_pairs  # the head, if it loads lazily
getattr(engine.model, "head"); mark()
engine.search(items=[json.loads(sys.argv[2])], k=5); mark()
names = ["import simsearch.cli", "import keras (TensorFlow)", "rest of simsearch.models",
         "SearchEngine.load (tower, index)", "head (on first use)", "encode + search"]
print(json.dumps({n: round(b - a, 3) for n, a, b in zip(names, t, t[1:])}))
"""


def build(workdir: Path) -> Path:
    if (workdir / "index" / "manifest.json").exists():
        return workdir
    from simsearch.data.loaders import load_table
    from simsearch.engine import build_index
    from simsearch.models import SiameseModel, build_head_model
    from simsearch.models.towers import RecordTowerConfig, build_record_tower

    items = load_table(TABLE, fields=["name", "description", "price"])
    settings = RecordTowerConfig(
        text_fields=("name", "description"), numeric_fields=("price",), embedding_dim=64
    )
    config = {
        "kind": "record",
        "inputs": {"text_fields": ["name", "description"], "numeric_fields": ["price"]},
        "dim": 64,
        "metric": "cosine",
        "threshold": {"distance": 0.3, "probability": 0.5},
        "head": {"rerank_default": False},
    }
    SiameseModel(build_record_tower(items.fields, settings), build_head_model(64), config).save(
        workdir / "model"
    )
    build_index(workdir / "model", items, workdir / "index")
    return workdir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/simsearch-cold-start"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--record", help="Append to RESULTS.md under this label (e.g. 'before').")
    parser.add_argument(
        "--by-id", action="store_true", help="query --id 0 (needs no model) instead of --record; walls only"
    )
    parser.add_argument(
        "--before", type=Path, help="with --by-id: another checkout, run alternately with this one"
    )
    args = parser.parse_args()
    root = build(args.workdir)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    query = ["--id", "0"] if args.by_id else ["--record", QUERY]
    command = [sys.executable, "-m", "simsearch", "query", "--index", str(root / "index"), *query, "-k", "5"]
    if args.by_id:
        _by_id(args, command, env)
        return
    walls = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - start)
    phases = subprocess.run(
        [sys.executable, "-c", _PHASES, str(root), QUERY],
        check=True,
        capture_output=True,
        text=True,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    breakdown = json.loads(phases.stdout.strip().splitlines()[-1])
    print(f"median {statistics.median(walls):.2f} s over {args.runs} runs: {[round(w, 2) for w in walls]}")
    for name, seconds in breakdown.items():
        print(f"  {name:<36} {seconds:6.2f} s")
    if args.record:
        _append(args, walls, breakdown)


def _by_id(args: argparse.Namespace, command: list[str], env: dict[str, str]) -> None:
    """Median walls of `query --id`, this checkout and (alternately) `--before`'s."""
    checkouts = {"this checkout": str(REPO), **({"before": str(args.before)} if args.before else {})}
    walls: dict[str, list[float]] = {name: [] for name in checkouts}
    for _ in range(args.runs):
        for name, code in checkouts.items():
            start = time.perf_counter()
            # cwd: not a checkout, whose simsearch/ `python -m` would import before PYTHONPATH's
            run_env = {**env, "PYTHONPATH": code}
            subprocess.run(command, check=True, capture_output=True, env=run_env, cwd=args.workdir)
            walls[name].append(time.perf_counter() - start)
    lines = [
        f"- {name} (`{code}`): median **{statistics.median(walls[name]):.2f} s** "
        f"({', '.join(f'{w:.2f}' for w in walls[name])})"
        for name, code in checkouts.items()
    ]
    print("\n".join(lines))
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        text = (
            f"\n### Cold start of `query --id`, {args.record} (issue 23, {stamp})\n\n"
            f"`python benchmarks/bench_cold_start.py --by-id --runs {args.runs}"
            f"{' --before ' + str(args.before) if args.before else ''}`: `simsearch query --index ... --id 0 "
            "-k 5` on the Abt-Buy record index (1081 items, re-ranking off), fresh processes, the checkouts "
            f"alternately; {os.cpu_count()} cores shared with other jobs (load average {load} at the end), "
            f"Python {platform.python_version()}.\n\n" + "\n".join(lines) + "\n"
        )
        with open(REPO / "benchmarks" / "RESULTS.md", "a") as f:
            f.write(text)


def _append(args: argparse.Namespace, walls: list[float], breakdown: dict[str, float]) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = "\n".join(f"| {name} | {seconds:.2f} |" for name, seconds in breakdown.items())
    text = (
        f"\n### Cold start of a one-off `query`, {args.record} (issue 18, {stamp})\n\n"
        f"`python benchmarks/bench_cold_start.py --runs {args.runs}`: `simsearch query --index ... "
        f"--record '{QUERY}' -k 5` on an Abt-Buy record index (1081 items), fresh processes; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
        f"Python {platform.python_version()}.\n\n"
        f"Wall: median **{statistics.median(walls):.2f} s** over {args.runs} runs "
        f"({', '.join(f'{w:.2f}' for w in walls)}).\n\n"
        "| phase (one more process, timed in order) | s |\n|---|---|\n" + rows + "\n"
    )
    with open(REPO / "benchmarks" / "RESULTS.md", "a") as f:
        f.write(text)


if __name__ == "__main__":
    main()
