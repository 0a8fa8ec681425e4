"""What every recipe runner shares: run a `simsearch` command as a user would, and time it."""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ROW_KEYS = (
    "dataset", "metric", "tower", "head", "baseline", "baseline_name",
    "anchor", "anchor_source", "train_minutes",
)  # fmt: skip


def simsearch(*args: str | Path, capture: bool = False) -> str:
    """Run `python -m simsearch ARGS` and return its stdout (raising on a non-zero exit)."""
    command = [sys.executable, "-m", "simsearch", *map(str, args)]
    done = subprocess.run(command, check=True, text=True, capture_output=capture, cwd=ROOT)
    return done.stdout if capture else ""


def timed_simsearch(*args: str | Path) -> float:
    """Run a command; return its wall time in minutes."""
    start = time.perf_counter()
    simsearch(*args)
    return (time.perf_counter() - start) / 60


def train_once(model: Path, *args: str | Path, command: str = "train") -> float | None:
    """`simsearch COMMAND ARGS --out MODEL` (`train` or `train-reranker`) unless MODEL already
    holds a model; the training's wall minutes, kept beside the model in MODEL.minutes (None for
    a model trained elsewhere without one)."""
    record = model.with_name(model.name + ".minutes")
    if (model / "config.json").exists():
        return float(record.read_text()) if record.exists() else None
    minutes = timed_simsearch(command, *args, "--out", model)
    record.write_text(f"{minutes:.2f}\n")
    return minutes


def train_pairs_once(
    model: Path, folder: Path, catalogs: list[Path], epochs: int, *options: str, batch_size: int = 128
) -> float | None:
    """`train_once` on FOLDER's train.csv / valid.csv over CATALOGS, with steps per epoch that
    cover the training pairs about once (batches of `batch_size`)."""
    with (folder / "train.csv").open(newline="", encoding="utf-8") as handle:
        steps = -(-sum(1 for _ in csv.DictReader(handle)) // batch_size)
    return train_once(
        model, "--quiet", "--pairs", folder / "train.csv", "--valid-pairs", folder / "valid.csv",
        *(a for c in catalogs for a in ("--catalog", c)),
        "--epochs", str(epochs), "--steps-per-epoch", str(steps), "--batch-size", str(batch_size),
        *options,
    )  # fmt: skip


def evaluate_json(*args: str | Path) -> dict[str, Any]:
    """`simsearch evaluate ... --json --no-plots`, parsed."""
    return json.loads(simsearch("evaluate", *args, "--json", "--no-plots", capture=True))


def row(**values: Any) -> dict[str, Any]:
    """A result row with every key of the quality table (None where it does not apply)."""
    unknown = set(values) - set(ROW_KEYS)
    if unknown:
        raise ValueError(f"Expected keys among {ROW_KEYS}. Received: {sorted(unknown)}")
    return {key: values.get(key) for key in ROW_KEYS}


def recipe_main(
    description: str | None,
    run: Callable[..., list[dict[str, Any]]],
    holding: str,
    budget: float,
    *,
    subfolder: str | None = None,
    options: dict[str, tuple[str, Callable[[str], Any]]] | None = None,
) -> None:
    """The command line of a recipe runner: --data-root, --work, --budget-minutes and the
    recipe's own `options` (flag -> (default, convert)); prints one JSON row per line."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, required=True, help=f"The folder holding {holding}/.")
    parser.add_argument("--work", type=Path, default=Path("runs/recipes"))
    parser.add_argument("--budget-minutes", type=float, default=budget)
    for flag, (default, _) in (options or {}).items():
        parser.add_argument(f"--{flag}", default=default)
    args = parser.parse_args()
    extra = {
        flag.replace("-", "_"): convert(getattr(args, flag.replace("-", "_")))
        for flag, (_, convert) in (options or {}).items()
    }
    work = args.work / subfolder if subfolder else args.work
    for found in run(args.data_root, work, args.budget_minutes, **extra):
        print(json.dumps(found))
