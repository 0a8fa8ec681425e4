"""Items as a request carries them, turned into what the model's tower takes.

- image models: each item is a base64-encoded image file (PNG, JPEG, ...; a `data:` URL prefix
  is allowed), decoded, converted and resized to the tower's input as `simsearch.models` does for
  files;
- face models: each item is a base64-encoded photo, decoded at its own size, in which the face
  is found, aligned and described (dlib) as the model's face settings say;
- text models: each item is a string;
- record models: each item is a JSON object of the model's fields, under the record rule of
  `simsearch.data.records` (unknown fields refused, fields left out are missing values).
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.data.records import check_records, input_fields
from simsearch.errors import DataError
from simsearch.tower_kinds import tower_kind
from simsearch.validation import check_text

__all__ = ["MAX_IMAGE_PIXELS", "decode_image", "decode_items", "decode_photo"]

MAX_IMAGE_PIXELS = 4096 * 4096


def decode_items(items: Sequence[Any], kind: str, spec: Mapping[str, Any]) -> Any:
    """Return the items as the model's `encode` takes them: `(n, h, w, c) float32` for images,
    `(n, 128) float32` face descriptors for face models, a list of texts or of records otherwise.

    Raises:
        DataError: an item of the wrong type for the model, or an image that cannot be decoded.
    """
    tower = tower_kind(kind)
    if tower.catalogue == "images":
        size, channels = tuple(spec["image_size"]), int(spec["channels"])
        return np.stack(
            [decode_image(_text(item, i, "a base64 image"), size, channels) for i, item in enumerate(items)]
        )
    if tower.finds_faces:
        photos = [decode_photo(_text(item, i, "a base64 photo")) for i, item in enumerate(items)]
        return tower.prepare(photos, dict(spec))
    if tower.item == "text":
        return [check_text(_text(item, i, "a text"), f"item {i}") for i, item in enumerate(items)]
    return check_records(items, input_fields(spec))


def decode_image(text: str, size: tuple[int, ...], channels: int) -> npt.NDArray[np.float32]:
    """Decode one base64 image file into `(h, w, channels) float32` in [0, 1] at `size`."""
    image = _open(text, "L" if channels == 1 else "RGB", size)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return array[..., None] if channels == 1 else array


def decode_photo(text: str) -> npt.NDArray[np.uint8]:
    """Decode one base64 image file into an `(h, w, 3) uint8` RGB photo at its own size."""
    return np.asarray(_open(text, "RGB", None), dtype=np.uint8)


def _open(text: str, mode: str, size: tuple[int, ...] | None) -> Any:
    from PIL import Image

    data = _base64(text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                _check_pixels(opened.size)
                image = opened.convert(mode)
                return image if size is None else image.resize((size[1], size[0]), Image.Resampling.BOX)
    except DataError:
        raise
    except Exception as exc:  # untrusted bytes: any decoder failure is bad input
        raise DataError(f"Expected a readable image file (PNG, JPEG, ...). Received: {exc}") from exc


def _base64(text: str) -> bytes:
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DataError(f"Expected a base64-encoded image file. Received: {exc}") from exc


def _check_pixels(size: tuple[int, int]) -> None:
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise DataError(
            f"Expected an image of at most {MAX_IMAGE_PIXELS} pixels. Received: {size[0]}x{size[1]}"
        )


def _text(item: Any, i: int, what: str) -> str:
    if not isinstance(item, str):
        raise DataError(f"Expected {what} (a JSON string) as item {i}. Received: {type(item).__name__}")
    return item
