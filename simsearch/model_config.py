"""A siamese model directory's `config.json`, read and checked without Keras: `SiameseModel.load`
reads it first, and the CLI reads it to check a command's inputs (record fields, item kind)
before TensorFlow loads."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from simsearch.errors import ModelDirError

__all__ = ["FORMAT_VERSION", "MODEL_FILES", "read_config"]

FORMAT_VERSION = 1
MODEL_FILES = ("tower.keras", "head.keras", "config.json")


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check `config.json` of a model directory (files present, format version, keys)."""
    root = Path(path)
    if not root.is_dir():
        raise ModelDirError(f"Expected a model directory. Received: '{root}' (not a directory)")
    missing = [name for name in MODEL_FILES if not (root / name).exists()]
    if missing:
        raise ModelDirError(f"Expected {list(MODEL_FILES)} in model directory '{root}'. Missing: {missing}")
    try:
        config = json.loads((root / "config.json").read_text())
    except json.JSONDecodeError as exc:
        raise ModelDirError(f"Expected JSON in '{root / 'config.json'}'. Received: {exc}") from exc
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelDirError(
            f"Expected a simsearch model directory of format_version {FORMAT_VERSION}. Received: "
            f"format_version={version!r} (written by simsearch {config.get('simsearch_version', '?')}) "
            f"in '{root}'. Retrain it with this version."
        )
    for key in ("kind", "inputs", "dim", "metric"):
        if key not in config:
            raise ModelDirError(
                f"Expected key {key!r} in '{root / 'config.json'}'. Received: {sorted(config)}"
            )
    return dict(config)
