"""Recipe: one-shot characters on Omniglot (docs/recipes/omniglot.md).

Runs the recipe's commands (train on the 30 background alphabets → evaluate on the 20
evaluation alphabets: Lake's 400 official 20-way one-shot trials and random within-alphabet
trials) and the non-learned baseline the same way: nearest neighbour by L2 on raw pixels at the
model's input size.

    .venv/bin/python -m benchmarks.recipes.omniglot --data-root ../shared/data --work runs/recipes
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.recipes._common import evaluate_json, recipe_main, row, train_once

TRIALS = 1000
ANCHOR = (92.0, "Koch et al. 2015 (official 400 trials); humans 95.5 (Lake et al. 2015)")


def train(data: Path, model: Path, epochs: int, image_size: int) -> float | None:
    return train_once(
        model,
        "--quiet",
        "--data",
        data / "omniglot_images_background.npz",
        "--tower",
        "image",
        "--loss",
        "softmax",
        "--invert",
        "--rotate-classes",
        "--image-size",
        str(image_size),
        "--epochs",
        str(epochs),
        "--steps-per-epoch",
        "100",
        "--batch-size",
        "256",
        "--classes-per-batch",
        "64",
        "--learning-rate",
        "0.002",
        "--monitor",
        "val_oneshot",
        "--patience",
        "8",
    )


def raw_pixels(data: Path, image_size: int, seed: int = 0) -> dict[str, float]:
    """The same two protocols on raw pixels (L2 nearest neighbour), at the model's input size."""
    from simsearch.data.image_folder import resize_images
    from simsearch.data.loaders import load_npz
    from simsearch.evaluation.lake_runs import load_lake_runs
    from simsearch.evaluation.oneshot import lake_runs_accuracy, n_way_k_shot_accuracy

    size = (image_size, image_size)
    runs = load_lake_runs(data / "all_runs.zip", image_size=size)
    pixels = lambda x: np.asarray(x, np.float32).reshape(len(x), -1)  # noqa: E731
    official = lake_runs_accuracy(pixels, runs, metric="l2").accuracy
    evaluation = load_npz(data / "omniglot_images_evaluation.npz")
    images = resize_images(evaluation.images, size)
    random = n_way_k_shot_accuracy(
        pixels(images),
        evaluation.labels,
        n_way=20,
        k_shot=1,
        n_trials=TRIALS,
        groups=evaluation.groups,
        metric="l2",
        seed=seed,
    )
    return {"official": official, "random": random.accuracy}


def run(
    data_root: Path, work_dir: Path, budget_minutes: float = 30.0, *, image_size: int = 40
) -> list[dict[str, Any]]:
    """Train within about `budget_minutes`: an epoch of 100 steps takes ~0.6 min at 28x28 and
    ~0.9 at 40x40 on 2 busy cores."""
    data = data_root / "omniglot"
    model = work_dir / "models" / f"omniglot-{image_size}"
    minutes = train(data, model, max(2, int(budget_minutes / 0.9)), image_size)
    report = evaluate_json(
        "--model",
        model,
        "--data",
        data / "omniglot_images_evaluation.npz",
        "--lake-runs",
        data / "all_runs.zip",
        "--n-way",
        "20",
        "--trials",
        str(TRIALS),
    )
    (work_dir / "omniglot-report.json").write_text(json.dumps(report, indent=1))
    base = raw_pixels(data, image_size)
    common = {
        "baseline_name": "raw pixels, L2 nearest neighbour",
        "train_minutes": minutes and round(minutes, 1),
    }
    return [
        row(
            dataset="Omniglot evaluation, Lake's 400 official trials",
            metric="20-way 1-shot accuracy %",
            tower=round(100 * report["official one-shot runs"]["accuracy"], 1),
            baseline=round(100 * base["official"], 1),
            anchor=ANCHOR[0],
            anchor_source=ANCHOR[1],
            **common,
        ),
        row(
            dataset=f"Omniglot evaluation, {TRIALS} random within-alphabet trials",
            metric="20-way 1-shot accuracy %",
            tower=round(100 * report["one-shot"]["accuracy"], 1),
            baseline=round(100 * base["random"], 1),
            **common,
        ),
    ]


def main() -> None:
    recipe_main(__doc__, run, "omniglot", 30.0, options={"image-size": ("40", int)})


if __name__ == "__main__":
    main()
