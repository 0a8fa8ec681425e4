"""A model directory's files, read and checked without Keras: `config.json` (and `history.json`)
as UTF-8 JSON objects, and each `.keras` file as a whole, intact zip archive (every member's
CRC-32). `SiameseModel.load` and `CrossEncoder.load` check here first, and the CLI reads the
config to check a command's inputs (record fields, item kind) before TensorFlow loads.

An index directory refers to its model here too: `model_hash` (sha256 of the model files),
`manifest_extra` (what an index's manifest records of its model) and `recorded_model_dir`."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

from simsearch.errors import IndexFileError, ModelDirError, ModelFileError

__all__ = [
    "FORMAT_VERSION",
    "INVALID_MARKER",
    "MODEL_FILES",
    "ConfigView",
    "check_dir",
    "check_keras_file",
    "check_model_dir",
    "config_calibration",
    "config_threshold",
    "keras_inputs",
    "manifest_extra",
    "model_hash",
    "read_config",
    "read_history",
    "read_json_file",
    "recorded_model_dir",
]

FORMAT_VERSION = 1
MODEL_FILES = ("tower.keras", "head.keras", "config.json")
INVALID_MARKER = "INVALID.txt"  # written into a saved directory that failed to load back
_KERAS_MEMBERS = ("metadata.json", "config.json", "model.weights.h5")
_CONFIG_TYPES: dict[str, type | tuple[type, ...]] = {"kind": str, "inputs": dict, "dim": int, "metric": str}


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check `config.json` of a model directory (files present, format version, keys)."""
    root = check_dir(path, MODEL_FILES, "model directory")
    config = read_json_file(root / "config.json")
    if not isinstance(config, dict):
        raise ModelFileError(
            f"Expected a JSON object in '{root / 'config.json'}'. Received: {type(config).__name__}",
            root / "config.json",
        )
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelDirError(
            f"Expected a simsearch model directory of format_version {FORMAT_VERSION}. Received: "
            f"format_version={version!r} (written by simsearch {config.get('simsearch_version', '?')}) "
            f"in '{root}'. Retrain it with this version."
        )
    for key, kind in _CONFIG_TYPES.items():
        if key not in config:
            raise ModelFileError(
                f"Expected key {key!r} in '{root / 'config.json'}'. Received: {sorted(config)}",
                root / "config.json",
            )
        if not isinstance(config[key], kind) or isinstance(config[key], bool):
            raise ModelFileError(
                f"Expected {key!r} of type {getattr(kind, '__name__', kind)} in '{root / 'config.json'}'. "
                f"Received: {key}={config[key]!r}",
                root / "config.json",
            )
    return dict(config)


def check_model_dir(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a siamese model directory without loading Keras: `read_config`, a readable
    `history.json` when there is one, whole and intact `.keras` archives, and a head whose
    inputs are `config.json`'s dim. Return the config."""
    root = Path(path)
    config = read_config(root)
    if (root / "history.json").exists():
        read_history(root / "history.json")
    for name in ("tower.keras", "head.keras"):
        check_keras_file(root / name)
    dim = int(config["dim"])
    shapes = keras_inputs(root / "head.keras")
    wrong = {name: shape for name, shape in shapes.items() if list(shape) != [None, dim]}
    if wrong:
        raise ModelFileError(
            f"Expected a head of inputs u, v of shape (None, {dim}) (config.json's dim) in "
            f"'{root / 'head.keras'}'. Received: {wrong} (the head of another model?)",
            root / "head.keras",
        )
    return config


def config_threshold(config: dict[str, Any]) -> dict[str, float | None]:
    """A model's calibrated decision thresholds from its config: `distance` (at most) and head
    `probability` (at least)."""
    stored = config.get("threshold") or {"distance": None, "probability": None}
    return {key: value for key, value in stored.items() if key != "curves"}


def config_calibration(config: dict[str, Any]) -> dict[str, Any]:
    """A model's held-out precision and false-accept curves from its config (`SiameseModel.calibration`)."""
    return dict((config.get("threshold") or {}).get("curves") or {})


def check_dir(path: str | os.PathLike[str], files: tuple[str, ...], what: str) -> Path:
    """Check that `path` is a directory holding `files`, not marked invalid by a failed save."""
    root = Path(path)
    if not root.is_dir():
        raise ModelDirError(f"Expected a {what}. Received: '{root}' (not a directory)")
    marker = root / INVALID_MARKER
    if marker.exists():
        reason = " ".join(marker.read_text(encoding="utf-8", errors="replace").split())
        raise ModelDirError(f"Expected a valid {what}. Received: '{root}' is marked invalid: {reason}")
    missing = [name for name in files if not (root / name).is_file()]
    if missing:
        raise ModelDirError(f"Expected {list(files)} in {what} '{root}'. Missing: {missing}")
    return root


def read_history(path: Path) -> dict[str, Any]:
    """Read `history.json`: per-epoch metrics as a JSON object."""
    history = read_json_file(path)
    if not isinstance(history, dict):
        raise ModelFileError(f"Expected a JSON object in '{path}'. Received: {type(history).__name__}", path)
    return history


def read_json_file(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; one that is unreadable, not UTF-8, truncated or not JSON raises
    `ModelFileError` naming it and what was wrong."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            f"Expected a readable file '{path}'. Received: {exc.strerror or exc}", path
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(
            f"Expected UTF-8 text in '{path}'. Received: byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start} is not UTF-8 (a damaged file?)",
            path,
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        ends = " (the file ends early: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise ModelFileError(
            f"Expected JSON in '{path}'. Received: {exc.msg} at line {exc.lineno} column {exc.colno}{ends}",
            path,
        ) from exc


def check_keras_file(path: str | os.PathLike[str]) -> None:
    """Check that a `.keras` file is a whole zip archive with Keras's members, each of which
    reads back with its CRC-32 (so a truncated, bit-flipped or foreign file is named here, not
    deep inside Keras)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Expected the Keras file '{path}'. Received: no such file", path)
    try:
        with zipfile.ZipFile(path) as archive:
            missing = [name for name in _KERAS_MEMBERS if name not in archive.namelist()]
            bad = None if missing else archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise ModelFileError(
            f"Expected a .keras file (a zip archive) in '{path}'. Received: {exc} "
            f"({path.stat().st_size} bytes: truncated, or not a .keras file)",
            path,
        ) from exc
    if missing:
        raise ModelFileError(
            f"Expected {list(_KERAS_MEMBERS)} in the Keras file '{path}'. Missing: {missing}", path
        )
    if bad is not None:
        raise ModelFileError(
            f"Expected an intact Keras file in '{path}'. Received: member {bad!r} fails its CRC-32 "
            "check (the file is damaged)",
            path,
        )


def keras_inputs(path: str | os.PathLike[str]) -> dict[str, list[int | None]]:
    """The input layers' batch shapes by name, from a `.keras` file's archived config (no Keras);
    empty when the config does not list them as a functional model does."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json").decode("utf-8"))
        layers = config["config"]["layers"]
        return {
            str(layer["config"]["name"]): list(layer["config"]["batch_shape"])
            for layer in layers
            if layer.get("class_name") == "InputLayer"
        }
    except (KeyError, TypeError, AttributeError):
        return {}
    except (zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"Expected a readable config in the Keras file '{path}'. Received: {exc}", path
        ) from exc


def model_hash(model_dir: str | os.PathLike[str]) -> str:
    """sha256 over a model directory's tower, head and config files."""
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        path = Path(model_dir) / name
        digest.update(name.encode())
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def manifest_extra(model: Any, model_dir: str | os.PathLike[str] | None) -> dict[str, Any]:
    """What an index's manifest records of the model that encoded it (`SiameseModel`): its
    directory and sha256, kind, dim, metric, threshold, calibration and re-rank default."""
    reference = (
        {} if model_dir is None else {"path": str(Path(model_dir).resolve()), "sha256": model_hash(model_dir)}
    )
    return {
        "model": {**reference, "kind": model.kind, "dim": model.dim, "metric": model.metric},
        "threshold": model.threshold,
        "calibration": model.calibration,
        "calibrated_on": model.config.get("calibrated_on"),  # "one catalogue" or "two catalogues"
        "rerank_default": bool(model.config.get("head", {}).get("rerank_default", False)),
    }


def recorded_model_dir(index_dir: str | os.PathLike[str]) -> Path:
    """The model directory an index's manifest records; `IndexFileError` when it has none or it
    is gone."""
    from simsearch.index import read_manifest  # faiss and h5py: not on the CLI's --help path

    recorded = read_manifest(index_dir).get("extra", {}).get("model", {})
    if not recorded.get("path"):
        raise IndexFileError(
            f"Expected a model reference in the manifest of '{index_dir}'. Received: none; pass model_dir"
        )
    path = Path(recorded["path"])
    if not path.is_dir():
        raise IndexFileError(
            f"Expected the index's model at '{path}'. Received: no such directory; pass model_dir (--model)"
        )
    return path


class ConfigView:
    """What a model's `config.json` says of it, as properties over `self.config`: shared by the
    loaded `SiameseModel` and the `LazyModel` that stands in for it until it is needed."""

    config: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.config["kind"])

    @property
    def dim(self) -> int:
        return int(self.config["dim"])

    @property
    def metric(self) -> str:
        return str(self.config["metric"])

    @property
    def threshold(self) -> dict[str, float | None]:
        """The calibrated decision thresholds: `distance` (at most) and head `probability` (at least)."""
        return config_threshold(self.config)

    @property
    def calibration(self) -> dict[str, Any]:
        """Held-out `[threshold, precision, recall]` rows for `"probability"` and `"distance"`
        (empty for models trained before they were stored), and `"far"`, the false-accept curve
        of the distance on every held-out pair (`evaluation.metrics.far_curve`), when trained on
        labelled items."""
        return config_calibration(self.config)
