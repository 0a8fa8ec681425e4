"""`SiameseModel`: a trained tower, its pairwise head and their settings, saved as one directory.

    MODEL_DIR/
        tower.keras     the tower (one item -> one embedding)
        head.keras      the pairwise head (two embeddings -> P(same)); runs on its own
        config.json     format version, tower kind and inputs, dim, metric, thresholds, training
        history.json    per-epoch training metrics

Distances follow the model's metric everywhere: `"cosine"` (L2-normalised towers) reports
`1 - cos(u, v)`, `"l2"` the true (not squared) Euclidean distance.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import numpy.typing as npt

import simsearch
from simsearch.errors import DataError, ModelDirError, ModelFileError
from simsearch.model_config import (
    FORMAT_VERSION,
    INVALID_MARKER,
    ConfigView,
    check_keras_file,
    check_model_dir,
    read_history,
)
from simsearch.tower_kinds import tower_kind

if TYPE_CHECKING:
    from simsearch.search.explain import Explanation

__all__ = ["FORMAT_VERSION", "Comparison", "SiameseModel", "load_keras_file", "write_model_dir"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Comparison:
    """The verdict on one pair: distance, head probability and the decision at the threshold."""

    distance: float
    probability: float
    same: bool
    threshold: dict[str, float | None] = field(default_factory=dict)
    decided_by: str = "distance"


class SiameseModel(ConfigView):
    """A trained tower and pairwise head with their settings.

    Args:
        tower: `keras.Model` from an item to `(dim,)`.
        head: `keras.Model` from `{"u", "v"}` embeddings to `(n,)` P(same); None with
            `head_file`, read on first use.
        config: the settings written to `config.json` (`kind`, `inputs`, `dim`, `metric`, `threshold`, ...).
        history: per-epoch training metrics.

    Example:
    >>> model = SiameseModel.load("models/omniglot")
    >>> model.compare(image_a, image_b)
    Comparison(distance=0.21, probability=0.97, same=True, ...)
    """

    def __init__(
        self,
        tower: keras.Model,
        head: keras.Model | None,
        config: Mapping[str, Any],
        history: Mapping[str, list[float]] | None = None,
        *,
        head_file: Path | None = None,
    ) -> None:
        self.tower = tower
        self._head = head
        self._head_file = head_file
        self._head_lock = threading.Lock()
        self.config = dict(config)
        self.history = dict(history or {})

    @property
    def head(self) -> keras.Model:
        """The pairwise head; a loaded model reads its `head.keras` on first use, so that a
        search that does not re-rank never pays for it."""
        with self._head_lock:
            if self._head is None:
                if self._head_file is None:
                    raise ModelDirError("Expected a pairwise head. Received: none, and no head.keras to load")
                head = load_keras_file(self._head_file)
                _check_head(head, self.dim, self._head_file)
                self._head = head
            return self._head

    def prepare(self, content: Any) -> Any:
        """Turn raw content (image array, texts, dict of fields) into the tower's inputs."""
        from simsearch.models.inputs import prepare_inputs

        return prepare_inputs(content, self.kind, self.config["inputs"])

    def encode(self, content: Any, batch_size: int = 256) -> npt.NDArray[np.float32]:
        """Encode items into `(n, dim) float32` embeddings."""
        inputs = self.prepare(content)
        n = len(next(iter(inputs.values()))) if isinstance(inputs, dict) else len(inputs)
        if n <= batch_size:
            out = self.tower(inputs, training=False)  # skips `predict`'s ~100 ms set-up
        else:
            out = self.tower.predict(inputs, batch_size=batch_size, verbose=0)
        return np.asarray(out, dtype=np.float32)

    def distance(self, u: npt.ArrayLike, v: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Return the `(n,)` distances between rows of `u` and `v` under the model's metric."""
        from simsearch.evaluation.evaluate import pair_distances

        return pair_distances(np.asarray(u, dtype=np.float32), np.asarray(v, dtype=np.float32), self.metric)

    def score_pairs(
        self, u: npt.ArrayLike, v: npt.ArrayLike, batch_size: int = 4096
    ) -> npt.NDArray[np.float32]:
        """Return the head's `(n,)` P(same) for pairs of embeddings."""
        u = np.asarray(u, dtype=np.float32)
        v = np.asarray(v, dtype=np.float32)
        if u.shape != v.shape or u.ndim != 2 or u.shape[1] != self.dim:
            raise DataError(
                f"Expected two (n, {self.dim}) arrays of embeddings. Received: shapes {u.shape} and {v.shape}"
            )
        if len(u) == 0:
            return np.zeros(0, np.float32)
        if len(u) <= batch_size:
            # One direct call: `predict` costs ~100 ms of set-up, too much for one query's re-rank.
            out = self.head({"u": u, "v": v}, training=False)
        else:
            out = self.head.predict({"u": u, "v": v}, batch_size=batch_size, verbose=0)
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def compare(self, a: Any, b: Any) -> Comparison:
        """Compare two items: distance, head probability and the decision at the threshold.

        The decision follows the head's calibrated threshold when the head beat the tower's
        distance on held-out pairs (`config["head"]["rerank_default"]`), else the distance one.
        """
        u = self.encode(_one(a, self.kind))
        v = self.encode(_one(b, self.kind))
        distance = float(self.distance(u, v)[0])
        probability = float(self.score_pairs(u, v)[0])
        threshold = self.threshold
        use_head = bool(self.config.get("head", {}).get("rerank_default", False))
        if use_head and threshold.get("probability") is not None:
            same, rule = probability >= float(threshold["probability"]), "head probability"  # type: ignore[arg-type]
        elif threshold.get("distance") is not None:
            same, rule = distance <= float(threshold["distance"]), "distance"  # type: ignore[arg-type]
        else:
            same, rule = probability >= 0.5, "head probability at 0.5 (no calibrated threshold)"
        return Comparison(distance, probability, same, threshold, decided_by=rule)

    def explain_pairs(
        self, lefts: Sequence[Any], rights: Sequence[Any], *, same: Any = None, head: bool = False
    ) -> list[Explanation]:
        """Explain pairs of records or texts (`search.explain.explain_pairs`) with this model's
        tower, metric, distance threshold and field weights; in the head's probability with `head`
        (when it decides), else in distance. `same`: the pairs' decisions (one for all, or one
        each).

        Raises:
            DataError: an image model (explanations drop fields and words).
        """
        from simsearch.data.records import input_fields
        from simsearch.search.explain import explain_pairs

        kind = tower_kind(self.kind)
        if kind.is_image:
            raise DataError(
                f"Expected a text or record model to explain. Received: a model of kind {self.kind!r}"
            )
        return explain_pairs(
            lefts,
            rights,
            self.encode,
            self.distance,
            score_pairs=self.score_pairs if head else None,
            same=same,
            distance_threshold=self.threshold.get("distance"),
            metric=self.metric,
            fields=input_fields(self.config["inputs"]) or None,
            weights=kind.field_weights(self.tower, self.config["inputs"]),
        )

    def save(self, path: str | os.PathLike[str], *, probe: Any = None) -> Path:
        """Write the model directory atomically: a failed write leaves any previous one intact.

        With `probe` (a few items, as `encode` takes them), the written directory is loaded back
        and must encode them, and its head score their pairs, as this model does before it
        replaces anything at `path`; else `ModelFileError` names the cause, and the files are
        kept in `PATH.invalid/`, marked invalid (see `write_model_dir`).
        """
        config = {
            **self.config,
            "format_version": FORMAT_VERSION,
            "simsearch_version": simsearch.__version__,
        }
        target = write_model_dir(
            path,
            {"tower.keras": self.tower, "head.keras": self.head},
            {"config.json": config, "history.json": self.history},
            check=None if probe is None else lambda tmp: self.check_reloaded(tmp, probe),
        )
        logger.info("Saved model to %s", target)
        return target

    def check_reloaded(self, path: str | os.PathLike[str], probe: Any) -> None:
        """Load the model directory at `path` and check it encodes `probe`, and its head scores
        their pairs, as this model does (to float32 rounding)."""
        loaded = SiameseModel.load(path)
        expected, got = self.encode(probe), loaded.encode(probe)
        _check_close(
            got, expected, f"the tower's embeddings of {len(expected)} items", Path(path) / "tower.keras"
        )
        u, v = expected, np.roll(expected, 1, axis=0)
        _check_close(
            loaded.score_pairs(u, v), self.score_pairs(u, v), "the head's scores", Path(path) / "head.keras"
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SiameseModel:
        """Load a model directory written by `save`, with Keras's `safe_mode=True`.

        The one way in: the files are checked first (`model_config.check_model_dir`), and a
        tower whose inputs or output do not fit `config.json` raises `ModelFileError` naming it,
        so a damaged or mixed-up directory fails here, not at the first search.
        """
        import simsearch.models  # noqa: F401  (registers simsearch's Keras objects)

        root = Path(path)
        config = check_model_dir(root)
        history_path = root / "history.json"
        history = read_history(history_path) if history_path.exists() else {}
        # For inference only: compiling would also restore the optimizer state of the last fit,
        # which need not match the trainable weights (the head's calibration freezes most).
        tower = load_keras_file(root / "tower.keras")
        model = cls(tower, None, config, history, head_file=root / "head.keras")
        model.check_tower(root / "tower.keras")
        return model

    def check_tower(self, where: str | os.PathLike[str] = "the tower") -> None:
        """Encode one blank item and check the output is `(1, dim)`: a tower that does not take
        this model's inputs, or gives another width, raises `ModelFileError`."""
        from simsearch.models.inputs import blank_inputs

        try:
            out = np.asarray(self.tower(blank_inputs(self.kind, self.config["inputs"]), training=False))
        except Exception as exc:  # Keras raises many types for inputs that do not fit
            raise ModelFileError(
                f"Expected a tower that takes this {self.kind} model's inputs in '{where}'. Received: "
                f"{one_line(exc)} (a tower from another model?)",
                where,
            ) from exc
        if out.shape != (1, self.dim):
            raise ModelFileError(
                f"Expected a tower of output (n, {self.dim}) (config.json's dim) in '{where}'. Received: "
                f"output {tuple(out.shape)} for one item (a tower from another model?)",
                where,
            )


def write_model_dir(
    path: str | os.PathLike[str],
    models: Mapping[str, keras.Model],
    documents: Mapping[str, Any],
    texts: Mapping[str, str] | None = None,
    *,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """Write a directory atomically: `models` as `.keras` files (without their optimizer),
    `documents` as JSON and `texts` as they are, by file name. A failed or interrupted write
    leaves any previous directory at `path` intact.

    `check(tmp)` runs on the written directory before it replaces `path` (to load it back). When
    it fails, nothing at `path` changes: the files are kept in `PATH.invalid/` beside it, with an
    `INVALID.txt` saying why (which loading refuses), and `ModelFileError` names the cause.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, model in models.items():
            _inference_copy(model).save(tmp / name)
        for name, document in documents.items():
            (tmp / name).write_text(json.dumps(document, indent=2, default=_json_default), encoding="utf-8")
        for name, text in (texts or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        if check is not None:
            _check_written(tmp, target, check)
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _check_written(tmp: Path, target: Path, check: Callable[[Path], None]) -> None:
    try:
        check(tmp)
    except Exception as exc:  # whatever failed, the directory does not read back as written
        cause = str(exc) if isinstance(exc, ModelDirError) else load_failure(exc)
        invalid = target.with_name(f"{target.name}.invalid")
        shutil.rmtree(invalid, ignore_errors=True)
        (tmp / INVALID_MARKER).write_text(
            f"Written by simsearch {simsearch.__version__}; it did not load back as written: {cause}\n",
            encoding="utf-8",
        )
        os.replace(tmp, invalid)
        raise ModelFileError(
            f"Expected the saved model to load back as it was written. Received: {cause}. Nothing was "
            f"written at '{target}'; the files are kept, marked invalid, in '{invalid}'",
            invalid,
        ) from exc


def _check_close(got: Any, expected: Any, what: str, path: Path) -> None:
    got, expected = np.asarray(got, np.float32), np.asarray(expected, np.float32)
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
        gap = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("nan")
        raise ModelFileError(
            f"Expected {what} from the reloaded '{path.name}' to equal the trained model's. Received: "
            f"shape {got.shape} against {expected.shape}, largest difference {gap:.3g}",
            path,
        )


def load_keras_file(path: Path) -> keras.Model:
    """Load a `.keras` file for inference (`safe_mode=True`, not compiled); a file that is
    damaged or that this version cannot read raises `ModelFileError` naming it and the cause."""
    check_keras_file(path)
    try:
        with warnings.catch_warnings():
            # On a failed load Keras also warns of the containers it skipped: the error says it.
            warnings.filterwarnings("ignore", message="Skipping nested container", category=UserWarning)
            return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many types for a file it cannot read
        raise ModelFileError(
            f"Expected a Keras model this simsearch version can load in '{path}'. "
            f"Received: {load_failure(exc)}",
            path,
        ) from exc


_FAILED_OBJECTS = re.compile(
    r"A total of (\d+) objects could not be loaded\. Example error message for object "
    r"<(\w+) name=([^,>]+)[^>]*>:\s*(.*?)\s*List of objects that could not be loaded",
    re.S,
)


def load_failure(exc: BaseException) -> str:
    """One line naming why Keras could not load a file. Its "A total of N objects could not be
    loaded" message holds the cause of the first failure in its middle: that cause is returned,
    with the layer it came from."""
    text = str(exc)
    match = _FAILED_OBJECTS.search(text)
    if match is None:
        return one_line(exc)
    count, kind, name, cause = match.groups()
    cause = re.sub(r"np\.str_\(('[^']*'|\"[^\"]*\")\)", r"\1", " ".join(cause.split()))
    if len(cause) > 300:
        cause = cause[:300] + "…"
    more = f" ({int(count) - 1} more objects failed with it)" if int(count) > 1 else ""
    hint = (
        " (a vocabulary term held a line-break character such as U+0085 that its saved "
        "vocabulary.txt splits on; retrain with this version, which normalises text first)"
        if "repeated term" in cause
        else ""
    )
    return f"layer {name!r} ({kind}) could not be loaded{more}: {cause}{hint}"


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name when it has none)."""
    text = " ".join(str(exc).split())
    if len(text) > 400:
        text = text[:400] + "…"
    return text or type(exc).__name__


def _check_head(head: keras.Model, dim: int, path: Path) -> None:
    try:
        out = np.asarray(head({"u": np.zeros((1, dim), np.float32), "v": np.zeros((1, dim), np.float32)}))
    except Exception as exc:  # Keras raises many types for inputs that do not fit
        raise ModelFileError(
            f"Expected a head of inputs u, v of shape (n, {dim}) (config.json's dim) in '{path}'. "
            f"Received: {one_line(exc)} (the head of another model?)",
            path,
        ) from exc
    if out.size != 1:
        raise ModelFileError(
            f"Expected a head giving one P(same) per pair in '{path}'. "
            f"Received: output {out.shape} for one pair",
            path,
        )


def _inference_copy(model: keras.Model) -> keras.Model:
    """The model without its optimizer, so the file holds what inference needs and nothing else."""
    if getattr(model, "optimizer", None) is None:
        return model
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _replace_dir(tmp: Path, target: Path) -> None:
    if not target.exists():
        os.replace(tmp, target)
        return
    backup = target.with_name(f".{target.name}.old")
    shutil.rmtree(backup, ignore_errors=True)
    os.replace(target, backup)
    try:
        os.replace(tmp, target)
    except BaseException:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _one(item: Any, kind: str) -> Any:
    if tower_kind(kind).is_image:
        return [item] if isinstance(item, (str, os.PathLike)) else np.asarray(item)[None]
    return [item]  # a record stays one: the record rule fills the fields it leaves out


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"Cannot write {type(value).__name__} to JSON")
