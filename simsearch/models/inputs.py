"""Turn raw content into what a tower takes: image batches at the tower's size, text and field
columns as the right dtypes. Used by encoding, comparison and training alike."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.data.records import check_records, input_fields
from simsearch.errors import DataError
from simsearch.tower_kinds import tower_kind

__all__ = [
    "blank_inputs",
    "face_inputs",
    "image_inputs",
    "input_fields",
    "normalize_text",
    "prepare_inputs",
    "record_inputs",
    "table_inputs",
    "text_inputs",
]

TEXT_INPUT = "text"
# Control characters and the line and paragraph separators: Python's `str.splitlines`, with which
# Keras reads a saved vocabulary back, splits on U+0085, U+2028, U+2029, U+001C-U+001E and others,
# so a vocabulary term holding one would not reload.
_BREAKS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def normalize_text(text: str) -> str:
    """Return `text` in Unicode NFC with every control character and line or paragraph separator
    (U+0085, U+2028, U+2029, tab, newline, ...) replaced by a space.

    Every text reaches a tower through here, when its vocabulary is adapted and when it is
    encoded, so the NFC and NFD forms of a word are one term, and no term holds a character
    that breaks the line of the saved vocabulary.

    Example:
    >>> normalize_text("Cafe\u0301\x85Paris")
    'Café Paris'
    """
    return _BREAKS.sub(" ", unicodedata.normalize("NFC", text))


def prepare_inputs(content: Any, kind: str, spec: Mapping[str, Any]) -> Any:
    """Return the tower inputs for `content` given the model's `kind` and input `spec`, as the
    kind's module prepares them (`simsearch.tower_kinds`)."""
    return tower_kind(kind).prepare(content, dict(spec))


def blank_inputs(kind: str, spec: Mapping[str, Any]) -> Any:
    """One blank item as the tower of a `kind` model with input `spec` takes it (black image,
    zero face descriptor, empty text and fields): enough to check that a tower fits its model."""
    return tower_kind(kind).blank(dict(spec))


def text_inputs(content: Any, text_fields: Sequence[str]) -> dict[str, npt.NDArray[np.object_]]:
    """Return the text tower's input `{"text": (n,) object}`: strings as they are, records'
    `text_fields` joined by spaces."""
    return {TEXT_INPUT: _join_text(content, text_fields)}


def record_inputs(
    content: Any, text_fields: Sequence[str], numeric_fields: Sequence[str]
) -> dict[str, np.ndarray]:
    """Return the record tower's inputs from records (a dict of columns or a list of dicts)."""
    return table_inputs(_columns(content, [*text_fields, *numeric_fields]), text_fields, numeric_fields)


def image_inputs(content: Any, image_size: tuple[int, int], channels: int) -> npt.NDArray[np.float32]:
    """Return `(n, h, w, channels) float32` in [0, 1] from arrays or image file paths."""
    if isinstance(content, (str, os.PathLike)) or (
        isinstance(content, Sequence) and len(content) and isinstance(content[0], (str, os.PathLike))
    ):
        paths = [content] if isinstance(content, (str, os.PathLike)) else list(content)
        return np.stack([_read_image(p, image_size, channels) for p in paths])
    images = np.asarray(content)
    if images.dtype == object or images.ndim not in (3, 4):
        raise DataError(
            f"Expected images as an (n, h, w) or (n, h, w, c) array or image paths. "
            f"Received: array of shape {images.shape} and dtype {images.dtype}"
        )
    if images.ndim == 3:
        images = images[..., None]
    images = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    images = _match_channels(images, channels)
    if images.shape[1:3] != tuple(image_size):
        images = _resize(images, image_size)
    if not np.all(np.isfinite(images)):
        raise DataError("Expected finite pixel values. Received: NaN or infinity in the images")
    return images


def face_inputs(content: Any, spec: Mapping[str, Any]) -> npt.NDArray[np.float32]:
    """Return `(n, 128) float32` dlib face descriptors from photos (paths or arrays), found and
    aligned as `spec["face"]` (a `FaceConfig`) says; `(n, 128)` descriptors pass as they are."""
    from simsearch.data.faces import DESCRIPTOR_DIM, FaceConfig, face_descriptors

    if not isinstance(content, (str, os.PathLike, Sequence)):
        array = np.asarray(content)
        if array.ndim == 2 and array.shape[1] == DESCRIPTOR_DIM and array.dtype != np.uint8:
            return array.astype(np.float32)
    photos = [content] if isinstance(content, (str, os.PathLike)) else content
    return face_descriptors(photos, FaceConfig(**spec.get("face", {})))


def _read_image(path: str | os.PathLike[str], image_size: tuple[int, int], channels: int) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as opened:
            image = opened.convert("L" if channels == 1 else "RGB")
            image = image.resize((image_size[1], image_size[0]), Image.Resampling.BOX)
            array = np.asarray(image, dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise DataError(f"Expected a readable image file. Received: '{path}' ({exc})") from exc
    return array[..., None] if channels == 1 else array


def _match_channels(images: np.ndarray, channels: int) -> np.ndarray:
    have = images.shape[-1]
    if have == channels:
        return images
    if channels == 1 and have in (3, 4):
        return images[..., :3].mean(axis=-1, keepdims=True)
    if channels == 3 and have == 1:
        return np.repeat(images, 3, axis=-1)
    raise DataError(f"Expected images with {channels} channel(s). Received: {have} channels")


def _resize(images: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    import tensorflow as tf

    resized = tf.image.resize(images, image_size, method="area", antialias=True)
    return np.asarray(resized, dtype=np.float32)


def _columns(content: Any, names: Sequence[str]) -> dict[str, Any]:
    if isinstance(content, Mapping):
        return dict(content)
    if isinstance(content, Sequence) and content and isinstance(content[0], Mapping):
        records = check_records(content, names)  # the record rule (simsearch.data.records)
        return {name: [row[name] for row in records] for name in names}
    raise DataError(
        f"Expected records as a dict of columns or a list of dicts with fields {list(names)}. "
        f"Received: {type(content).__name__}"
    )


def _join_text(content: Any, text_fields: Sequence[str]) -> npt.NDArray[np.object_]:
    if isinstance(content, str):
        content = [content]
    if isinstance(content, Mapping) or (
        isinstance(content, Sequence) and content and isinstance(content[0], Mapping)
    ):
        columns = _columns(content, text_fields)
        _require(columns, text_fields)
        parts = [_text_column(columns[name]) for name in text_fields]
        return np.asarray([" ".join(p for p in row if p) for row in zip(*parts, strict=True)], dtype=object)
    return _text_column(content)


def table_inputs(
    columns: Mapping[str, Any], text_fields: Sequence[str], numeric_fields: Sequence[str]
) -> dict[str, np.ndarray]:
    """Return the record tower's inputs: text fields as object arrays, numeric as float32."""
    _require(columns, [*text_fields, *numeric_fields])
    inputs: dict[str, np.ndarray] = {name: _text_column(columns[name]) for name in text_fields}
    for name in numeric_fields:
        inputs[name] = _numeric_column(columns[name], name)
    return inputs


def _require(columns: Mapping[str, Any], names: Sequence[str]) -> None:
    missing = [name for name in names if name not in columns]
    if missing:
        raise DataError(f"Expected fields {list(names)}. Received: {sorted(columns)} (missing {missing})")


def _text_column(values: Any) -> npt.NDArray[np.object_]:
    array = np.asarray(values, dtype=object).reshape(-1)
    return np.asarray(["" if _is_missing(v) else normalize_text(str(v)) for v in array], dtype=object)


def _numeric_column(values: Any, name: str) -> npt.NDArray[np.float32]:
    out = np.empty(len(values), dtype=np.float32)
    for i, value in enumerate(values):
        if _is_missing(value) or value == "":
            out[i] = np.nan
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError) as exc:
            raise DataError(f"Expected a number in field {name!r}. Received: {value!r}") from exc
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))
