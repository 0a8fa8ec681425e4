"""`make demo`: the main job on the bundled Omniglot sample, through the real command line.

Trains an image tower on 6 background alphabets, evaluates 20-way one-shot accuracy on 5 unseen
evaluation alphabets, indexes those alphabets' 3,140 drawings, queries the index by id and by
image file with re-ranking, compares two pairs of images, and deduplicates the catalogue (pairs
of drawings of one character, grouped). Each command is printed before it runs.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from simsearch.datasets import omniglot_sample

WORK = Path("runs/demo")
MODEL = Path("models/demo")
INDEX = Path("indexes/demo")


def run(*args: str) -> None:
    command = ["simsearch", *args]
    print(f"\n$ {shlex.join(command)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "simsearch", *args], check=False)
    if result.returncode != 0:
        sys.exit(f"demo: `{shlex.join(command)}` failed with exit code {result.returncode}")


def write_catalog() -> Path:
    """The evaluation sample as an image folder (alphabet/character/NN.png): the catalogue."""
    from PIL import Image

    data = np.load(omniglot_sample("evaluation"), allow_pickle=False)
    root = WORK / "catalog"
    for image, item in zip(data["images"], data["ids"], strict=True):
        path = root / f"{item}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    return root


def write_examples() -> tuple[Path, Path, Path]:
    """Two drawings of one unseen character and one of another, as PNG files."""
    from PIL import Image

    data = np.load(omniglot_sample("evaluation"), allow_pickle=False)
    labels = data["labels"]
    first = np.flatnonzero(labels == labels[0])
    other = np.flatnonzero(labels != labels[0])[0]
    WORK.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, index in (("a.png", first[0]), ("a_again.png", first[1]), ("b.png", other)):
        Image.fromarray(data["images"][index]).save(WORK / name)
        paths.append(WORK / name)
    print(f"Example images: {paths[0]} and {paths[1]} ({labels[0]}), {paths[2]} ({labels[other]})")
    return paths[0], paths[1], paths[2]


def main() -> None:
    background, evaluation = omniglot_sample("background"), omniglot_sample("evaluation")
    print("simsearch demo: Omniglot sample bundled with the package (MIT, Lake et al. 2015)")
    run(
        "train",
        "--data",
        str(background),
        "--tower",
        "image",
        "--loss",
        "softmax",
        "--invert",
        "--rotate-classes",
        "--epochs",
        "10",
        "--steps-per-epoch",
        "60",
        "--batch-size",
        "128",
        "--classes-per-batch",
        "32",
        "--learning-rate",
        "0.002",
        "--monitor",
        "val_oneshot",
        "--head-epochs",
        "5",
        "--out",
        str(MODEL),
    )
    run(
        "evaluate",
        "--model",
        str(MODEL),
        "--data",
        str(evaluation),
        "--n-way",
        "20",
        "--trials",
        "1000",
    )
    catalog = write_catalog()
    run("build-index", "--model", str(MODEL), "--catalog", str(catalog), "--index", str(INDEX))
    run("query", "--index", str(INDEX), "--id", "Kannada/character05/00.png", "-k", "5", "--rerank", "20")
    a, a_again, b = write_examples()
    run("query", "--index", str(INDEX), "--image", str(b), "-k", "3")
    run("compare", "--model", str(MODEL), str(a), str(a_again))
    run("compare", "--model", str(MODEL), str(a), str(b))
    pairs = WORK / "duplicates.csv"
    run("dedup", "--index", str(INDEX), "--out", str(pairs), "--groups", "-k", "10")
    summarise_dedup(pairs, WORK / "duplicates.groups.csv")


def summarise_dedup(pairs_path: Path, groups_path: Path) -> None:
    """How many found pairs are two drawings of the same character (the id's folder)."""
    import csv

    def character(item: str) -> str:
        return item.rsplit("/", 1)[0]

    with pairs_path.open(newline="") as f:
        pairs = list(csv.DictReader(f))
    with groups_path.open(newline="") as f:
        groups = list(csv.DictReader(f))
    same = sum(character(p["left_id"]) == character(p["right_id"]) for p in pairs)
    print(f"\nFirst pairs of {pairs_path}:")
    for p in pairs[:3]:
        print(f"  {p['left_id']}  {p['right_id']}  distance {float(p['distance']):.3f}  score {p['score']}")
    sizes: dict[str, int] = {}
    for row in groups:
        sizes[row["group"]] = sizes.get(row["group"], 0) + 1
    print(
        f"{len(pairs)} pairs, {same / max(len(pairs), 1):.1%} of them two drawings of the same character; "
        f"{sum(n > 1 for n in sizes.values())} groups of 2+ drawings in {groups_path}"
    )


if __name__ == "__main__":
    main()
