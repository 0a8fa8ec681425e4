"""Small datasets bundled with simsearch, for the demo and the tests.

`omniglot_sample`: 11 Omniglot alphabets at 28x28 (see `omniglot_sample/README.md`).
Only paths are returned here; read them with `simsearch.data.load_npz`. No TensorFlow import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from simsearch.errors import ConfigError, DataError

__all__ = ["OMNIGLOT_SPLITS", "omniglot_sample"]

OMNIGLOT_SPLITS = ("background", "evaluation")
_HERE = Path(__file__).resolve().parent


def omniglot_sample(split: Literal["background", "evaluation"] = "background") -> Path:
    """Return the path of the bundled Omniglot sample's `background` or `evaluation` npz.

    Background holds 6 alphabets (181 characters, 3,620 images) for training, evaluation 5 other
    alphabets (157 characters, 3,140 images) for one-shot tests; images are uint8 `(n, 28, 28)`,
    255 = white background.

    Example:
        >>> from simsearch.data import load_npz
        >>> items = load_npz(omniglot_sample("evaluation"))
    """
    if split not in OMNIGLOT_SPLITS:
        raise ConfigError(f"Expected split in {list(OMNIGLOT_SPLITS)}. Received: split={split!r}")
    path = _HERE / "omniglot_sample" / f"{split}.npz"
    if not path.is_file():
        raise DataError(f"Expected the bundled sample at '{path}'. Received: a missing file")
    return path
