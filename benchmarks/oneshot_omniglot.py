"""Omniglot 20-way one-shot, end to end: train on the 30 background alphabets, test on the 20
evaluation alphabets with Lake's 400 official trials (all_runs.zip) and with random
within-alphabet trials; the raw-pixel nearest neighbour runs beside it, the same way.

Appends a row to benchmarks/RESULTS.md. Needs ../shared/data/omniglot (real Omniglot, MIT).

    .venv/bin/python benchmarks/oneshot_omniglot.py --minutes 14
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "omniglot"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--filters", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--embedding-dim", type=int, default=128)
    parser.add_argument("--loss", default="softmax")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--classes-per-batch", type=int, default=64)
    parser.add_argument("--k", type=int, default=4, help="items per class in an episode")
    parser.add_argument("--affine", default="10,0.15,0.1,0.05", help="rotation,shear,scale,shift ranges")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument(
        "--val-alphabets",
        type=int,
        default=4,
        help="background alphabets held out for early stopping",
    )
    parser.add_argument("--random-trials", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "models" / "omniglot")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def shifted_views(images: np.ndarray, shift: int = 1) -> list[np.ndarray]:
    """The image and its four 1-pixel shifts, padded with background (1.0): test-time
    augmentation."""
    views = [images]
    for axis, step in ((1, shift), (1, -shift), (2, shift), (2, -shift)):
        moved = np.roll(images, step, axis=axis)
        edge = [slice(None)] * images.ndim
        edge[axis] = slice(0, step) if step > 0 else slice(step, None)
        moved[tuple(edge)] = 1.0
        views.append(moved)
    return views


def main() -> None:
    args = parse_args()
    if not (args.data / "omniglot_images_background.npz").exists():
        raise SystemExit(
            f"Omniglot not found under {args.data}: this benchmark needs ../shared/data/omniglot"
        )
    from simsearch.data.image_folder import resize_images
    from simsearch.data.loaders import load_npz
    from simsearch.evaluation.lake_runs import load_lake_runs
    from simsearch.evaluation.oneshot import lake_runs_accuracy, n_way_k_shot_accuracy
    from simsearch.models import TrainConfig, train_items

    size = (args.image_size, args.image_size)
    background = load_npz(args.data / "omniglot_images_background.npz")
    evaluation = load_npz(args.data / "omniglot_images_evaluation.npz")
    background = _resized(background, size, resize_images)
    evaluation = _resized(evaluation, size, resize_images)
    alphabets = sorted(set(background.groups))
    rng = np.random.default_rng(args.seed)
    held = set(rng.choice(alphabets, size=args.val_alphabets, replace=False))
    is_val = np.isin(background.groups, list(held))
    train, val = background.subset(~is_val), background.subset(is_val)

    config = TrainConfig(
        loss=args.loss,
        learning_rate=args.learning_rate,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        batch_size=args.classes_per_batch * args.k,
        classes_per_batch=args.classes_per_batch,
        rotate_classes=True,
        affine=tuple(float(v) for v in args.affine.split(",")),
        augment=True,
        monitor="val_oneshot",
        patience=args.patience,
        seed=args.seed,
        verbose=2,
    )
    tower_settings = {
        "invert": True,
        "filters": args.filters,
        "blocks": args.blocks,
        "embedding_dim": args.embedding_dim,
        "dropout": args.dropout,
    }
    start = time.perf_counter()
    model = train_items(train, tower="image", tower_settings=tower_settings, config=config, val_items=val)
    minutes = (time.perf_counter() - start) / 60
    model.save(args.out)

    runs = load_lake_runs(args.data / "all_runs.zip", image_size=size)
    encode = model.encode
    official = lake_runs_accuracy(encode, runs)
    official_tta = lake_runs_accuracy(lambda x: _tta_encode(encode, x), runs)
    pixels = lambda x: x.reshape(len(x), -1)  # noqa: E731
    official_raw = lake_runs_accuracy(pixels, runs, metric="l2")

    emb = model.encode(evaluation.images)
    emb_tta = _tta_encode(encode, evaluation.images)
    kwargs = dict(n_way=20, k_shot=1, n_trials=args.random_trials, groups=evaluation.groups, seed=args.seed)
    rand = n_way_k_shot_accuracy(emb, evaluation.labels, **kwargs)
    rand_tta = n_way_k_shot_accuracy(emb_tta, evaluation.labels, **kwargs)
    rand_raw = n_way_k_shot_accuracy(pixels(evaluation.images), evaluation.labels, metric="l2", **kwargs)

    rows = {
        "official 400 trials": (official, official_tta, official_raw),
        f"random within-alphabet ({args.random_trials})": (rand, rand_tta, rand_raw),
    }
    report = {
        name: {
            "tower": r[0].accuracy,
            "tower_tta": r[1].accuracy,
            "raw_pixels": r[2].accuracy,
            "ci95": r[0].ci95,
            "ci95_tta": r[1].ci95,
        }
        for name, r in rows.items()
    }
    report["train_minutes"] = minutes
    report["epochs_run"] = model.config["epochs_run"]
    print(json.dumps(report, indent=2))
    _append(args, rows, minutes, model.config["epochs_run"])


def _resized(items, size, resize_images):
    from simsearch.data.items import Items

    if items.images.shape[1:3] == size:
        return items
    return Items(
        ids=items.ids,
        labels=items.labels,
        classes=items.classes,
        images=resize_images(items.images, size),
        groups=items.groups,
    )


def _tta_encode(encode, images: np.ndarray) -> np.ndarray:
    views = [encode(v) for v in shifted_views(images)]
    mean = np.mean([v / np.linalg.norm(v, axis=1, keepdims=True) for v in views], axis=0)
    return mean.astype(np.float32)


def _append(args: argparse.Namespace, rows: dict, minutes: float, epochs: int) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}"
    lines = [
        "",
        f"### Omniglot 20-way one-shot — {dt.date.today().isoformat()}",
        "",
        f"Command: `.venv/bin/python benchmarks/oneshot_omniglot.py --image-size {args.image_size} "
        f"--filters {args.filters} --epochs {args.epochs} --steps-per-epoch {args.steps_per_epoch} "
        f"--classes-per-batch {args.classes_per_batch} --k {args.k} --loss {args.loss} "
        f"--affine {args.affine} --dropout {args.dropout} --learning-rate {args.learning_rate}` "
        f"on {machine}; "
        f"training {minutes:.1f} wall-clock minutes on the 2 cores, {epochs} epochs "
        f"(early stopping on within-alphabet "
        f"one-shot accuracy of {args.val_alphabets} held-out background alphabets).",
        "",
        "| protocol | simsearch tower | tower + 5-shift TTA | raw pixels (L2 NN) "
        "| Koch et al. 2015 | humans |",
        "|---|---|---|---|---|---|",
    ]
    for name, (r, tta, raw) in rows.items():
        lines.append(
            f"| {name} | {r.accuracy:.2%} [{r.ci95[0]:.1%}, {r.ci95[1]:.1%}] | {tta.accuracy:.2%} "
            f"[{tta.ci95[0]:.1%}, {tta.ci95[1]:.1%}] | {raw.accuracy:.2%} "
            "| 92.0% (official) | 95.5% |"
        )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
