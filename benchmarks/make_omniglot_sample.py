"""Make the bundled Omniglot demo sample, `simsearch/datasets/omniglot_sample/*.npz`.

Takes 6 background and 5 evaluation alphabets, chosen by name (below), from the full Omniglot npz
files (class-major, uint8 0/1 with 1 = white background), shrinks each 105x105 drawing to 28x28 with
PIL's box (area) filter and writes the flat layout `simsearch.data.load_npz` reads:

- `images`: uint8 `(n, 28, 28)`, 0..255, 255 = white background, 0 = ink (Omniglot's convention
  scaled to 0..255);
- `labels`: str "alphabet/character"; `groups`: str alphabet; `ids`: str "alphabet/character/NN",
  NN being the drawing's place (00..19) in the source file.

Usage:
    python benchmarks/make_omniglot_sample.py [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger("make_omniglot_sample")

REPO = Path(__file__).resolve().parents[1]
SIZE = 28
ALPHABETS = {
    "background": ("Balinese", "Cyrillic", "Greek", "Hebrew", "Japanese_(hiragana)", "Latin"),
    "evaluation": ("Angelic", "Atlantean", "Glagolitic", "Kannada", "Tengwar"),
}


def make_split(source: Path, split: str) -> dict[str, np.ndarray]:
    """Return the flat arrays of one split's chosen alphabets."""
    with np.load(source / f"omniglot_images_{split}.npz", allow_pickle=False) as data:
        images, alphabet, character = data["images"], data["alphabet"], data["character"]
    missing = set(ALPHABETS[split]) - set(alphabet.tolist())
    if missing:
        raise SystemExit(f"Expected alphabets {sorted(missing)} in the {split} npz. Received: none")
    chosen = np.flatnonzero(np.isin(alphabet, ALPHABETS[split]))
    n_samples = images.shape[1]
    names = [f"{alphabet[c]}/{character[c]}" for c in chosen]
    return {
        "images": np.stack([shrink(image) for c in chosen for image in images[c]]),
        "labels": np.repeat(names, n_samples),
        "groups": np.repeat(alphabet[chosen], n_samples),
        "ids": np.array([f"{name}/{s:02d}" for name in names for s in range(n_samples)]),
    }


def shrink(binary: np.ndarray) -> np.ndarray:
    """Shrink one 0/1 drawing to `SIZE`x`SIZE` uint8 0..255 with a box (area) filter."""
    image = Image.fromarray((binary * 255).astype(np.uint8))
    return np.asarray(image.resize((SIZE, SIZE), Image.Resampling.BOX))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "omniglot")
    parser.add_argument("--out", type=Path, default=REPO / "simsearch/datasets/omniglot_sample")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ALPHABETS:
        arrays = make_split(args.source, split)
        target = args.out / f"{split}.npz"
        np.savez_compressed(target, **arrays)
        logger.info(
            "%s: %d alphabets, %d characters, %d images -> %s (%d bytes)",
            split,
            len(ALPHABETS[split]),
            len(set(arrays["labels"].tolist())),
            len(arrays["images"]),
            target,
            target.stat().st_size,
        )


if __name__ == "__main__":
    main()
