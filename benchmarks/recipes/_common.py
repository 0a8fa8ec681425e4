"""What every recipe runner shares: run a `simsearch` command as a user would, and time it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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


def train_once(model: Path, *args: str | Path) -> float | None:
    """`simsearch train ARGS` unless MODEL already holds a model; the training's wall minutes,
    kept beside the model in MODEL.minutes (None for a model trained elsewhere without one)."""
    record = model.with_name(model.name + ".minutes")
    if (model / "config.json").exists():
        return float(record.read_text()) if record.exists() else None
    minutes = timed_simsearch("train", *args, "--out", model)
    record.write_text(f"{minutes:.2f}\n")
    return minutes


def evaluate_json(*args: str | Path) -> dict[str, Any]:
    """`simsearch evaluate ... --json --no-plots`, parsed."""
    return json.loads(simsearch("evaluate", *args, "--json", "--no-plots", capture=True))


def row(**values: Any) -> dict[str, Any]:
    """A result row with every key of the quality table (None where it does not apply)."""
    unknown = set(values) - set(ROW_KEYS)
    if unknown:
        raise ValueError(f"Expected keys among {ROW_KEYS}. Received: {sorted(unknown)}")
    return {key: values.get(key) for key in ROW_KEYS}
