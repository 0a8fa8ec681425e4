"""`LazyModel`: a model directory whose settings are read now and whose Keras files load on first
use, so that what needs no model (a search by vectors or ids, without re-ranking) never imports
TensorFlow (~10 s of a one-off `simsearch query --id`).

`open_model` decides: a directory whose files hash to what the index recorded (`model_hash`) is
the model the index was built with, which loaded then; its files are checked without Keras
(`check_model_dir`) and it loads when first needed. Any other directory loads at once, so that a
damaged or mixed-up file is named when the command starts.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy.typing as npt

from simsearch.model_config import ConfigView, check_model_dir, model_hash

__all__ = ["LazyModel", "open_model"]

logger = logging.getLogger(__name__)


def open_model(path: str | os.PathLike[str], sha256: str | None = None) -> Any:
    """The model in `path`: a `LazyModel` when its files hash to `sha256` (the index's record),
    else the `SiameseModel`, loaded and checked now."""
    if sha256 is not None and _hash(path) == sha256:
        return LazyModel(path)
    from simsearch.models.siamese import SiameseModel

    return SiameseModel.load(path)


def _hash(path: str | os.PathLike[str]) -> str | None:
    """The model's hash, or None when a file cannot be read (`SiameseModel.load` names it)."""
    try:
        return model_hash(path)
    except OSError:
        return None


class LazyModel(ConfigView):
    """A `SiameseModel` that loads on first use of what needs Keras (encoding, the head, ...);
    its settings (`config`, `kind`, `dim`, `metric`, `threshold`, `calibration`) need none.

    Args:
        path: the model directory, checked now without Keras (`check_model_dir`).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.config = check_model_dir(self.path)
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> Any:
        """The `SiameseModel`, loaded on first use (once, whichever thread asks first)."""
        with self._lock:
            if self._model is None:
                from simsearch.models.siamese import SiameseModel

                logger.info("Loading the model %s on first use", self.path)
                self._model = SiameseModel.load(self.path)
            return self._model

    def encode(self, content: Any, batch_size: int = 256) -> npt.NDArray[Any]:
        return self.loaded.encode(content, batch_size=batch_size)

    def score_pairs(self, u: npt.ArrayLike, v: npt.ArrayLike, batch_size: int = 4096) -> npt.NDArray[Any]:
        return self.loaded.score_pairs(u, v, batch_size=batch_size)

    def prepare(self, content: Any) -> Any:
        return self.loaded.prepare(content)

    def compare(self, a: Any, b: Any) -> Any:
        return self.loaded.compare(a, b)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not set yet (copy, pickle): never load for those
            raise AttributeError(name)
        return getattr(self.loaded, name)

    def __repr__(self) -> str:
        state = "loaded" if self._model is not None else "not loaded yet"
        return f"LazyModel({str(self.path)!r}, {state})"
