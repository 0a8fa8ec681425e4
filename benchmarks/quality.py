"""Every use-case recipe end to end, in one quality table (issue 6).

Each recipe (benchmarks/recipes/<name>.py) runs the same `simsearch` commands as its page in
docs/recipes/, on the real datasets under --data-root (../shared/data), beside its non-learned
baseline run the same way and the published anchor. Rows are appended to
benchmarks/RESULTS.md as one table, with the command, machine and date.

    .venv/bin/python benchmarks/quality.py --data-root ../shared/data --work runs/quality
    .venv/bin/python benchmarks/quality.py --data-root ../shared/data --recipes text_pairs,faces
    .venv/bin/python benchmarks/quality.py --recipes text_pairs --variant pretrained

Models already in --work/models are reused (train minutes then read 0); delete them to retrain.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Recipe → minutes of training it gets on 2 CPU cores.
BUDGETS = {"omniglot": 30.0, "products": 45.0, "text_pairs": 25.0, "faces": 10.0, "signatures": 5.0}
COLUMNS = (
    ("dataset", "dataset"),
    ("metric", "metric"),
    ("tower", "simsearch tower"),
    ("head", "simsearch + head"),
    ("baseline", "non-learned baseline"),
    ("baseline_name", "baseline"),
    ("anchor", "published anchor"),
    ("anchor_source", "anchor source"),
    ("train_minutes", "train min"),
)


def run_recipes(
    names: list[str], data_root: Path, work: Path, variant: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    rows: list[dict[str, Any]] = []
    wall: dict[str, float] = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.recipes.{name}")
        options: dict[str, Any] = {}
        if variant is not None:
            if "variant" not in inspect.signature(module.run).parameters:
                raise SystemExit(f"Expected a recipe with tower variants for --variant. Received: {name}")
            options["variant"] = variant
        start = time.perf_counter()
        found = module.run(data_root, work / name, BUDGETS.get(name, 10.0), **options)
        wall[name] = (time.perf_counter() - start) / 60
        for r in found:
            print(json.dumps(r), flush=True)
        rows.extend(found)
    return rows, wall


def markdown(rows: list[dict[str, Any]]) -> str:
    def cell(value: Any) -> str:
        return "—" if value is None else str(value)

    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r.get(key)) for key, _ in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "quality")
    parser.add_argument("--recipes", default=",".join(BUDGETS))
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument(
        "--variant",
        help="The tower variant of recipes that have several (text_pairs: linear, pretrained, mpnet).",
    )
    args = parser.parse_args()
    names = args.recipes.split(",")
    unknown = [n for n in names if not (ROOT / "benchmarks" / "recipes" / f"{n}.py").exists()]
    if unknown:
        raise SystemExit(f"Expected recipes among {sorted(BUDGETS)}. Received: {unknown}")
    rows, wall = run_recipes(names, args.data_root, args.work, args.variant)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/quality.py " + " ".join(sys.argv[1:])
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    minutes = ", ".join(f"{n} {m:.0f} min" for n, m in wall.items())
    section = (
        f"\n## Use-case quality table (issue 6, {when})\n\nCommand: `{command}` on {machine}; "
        f"wall time per recipe (training, evaluation and baseline): {minutes}.\n\n{markdown(rows)}\n"
    )
    with args.results.open("a", encoding="utf-8") as handle:
        handle.write(section)
    print(section)


if __name__ == "__main__":
    main()
