"""Encoding speed of the image towers on this machine: images per second, batch 256.

    .venv/bin/python benchmarks/bench_towers.py

Appends a table to benchmarks/RESULTS.md. Inputs are random pixels (SYNTHETIC): speed does not
depend on content.
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


def images_per_second(tower, shape: tuple[int, int, int], n: int, batch: int) -> float:
    x = np.random.default_rng(0).random((n, *shape), dtype=np.float32)
    tower.predict(x[:batch], batch_size=batch, verbose=0)  # trace and warm up
    start = time.perf_counter()
    tower.predict(x, batch_size=batch, verbose=0)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    from simsearch.models.towers import ImageTowerConfig, build_image_tower

    cases = [
        ("light (default), 28×28", ImageTowerConfig(image_size=(28, 28)), 20_000),
        ("light, 105×105", ImageTowerConfig(image_size=(105, 105)), 2_000),
        (
            "koch, 105×105, 4096-d",
            ImageTowerConfig(image_size=(105, 105), architecture="koch", embedding_dim=4096, normalize=False),
            1_000,
        ),
    ]
    rows = []
    for name, config, n in cases:
        tower = build_image_tower(config)
        speed = images_per_second(tower, (*config.image_size, 1), n, 256)
        rows.append(f"| {name} | {tower.count_params():,} | {speed:,.0f} |")
        print(rows[-1], flush=True)
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    lines = [
        "",
        f"### Image tower encoding speed — {dt.date.today().isoformat()}",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_towers.py` on {machine}; batch 256, `predict`.",
        "",
        "| tower | parameters | images/s |",
        "|---|---|---|",
        *rows,
    ]
    with args.results.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
