"""The limits on what simsearch accepts, and the checks that enforce them: one set for the CLI,
the HTTP API and the index, so that whatever is accepted can be stored, read back and searched.

    MAX_TEXT_CHARS      1_000_000    one text: a text item, a record field, a catalogue cell,
                                     a string in metadata (also the CSV field limit)
    MAX_METADATA_BYTES  1_000_000    one item's metadata, as JSON
    MAX_DEPTH           32           nesting of objects and lists in metadata
    MAX_ID_CHARS        1024         a text id
    MAX_INT_ID          2**63 - 1    an integer id (int64; ids are >= 0)
    MAX_RADIUS          3.40e38      a range search's radius (float32's largest)

Text is valid Unicode (no lone surrogates, which no UTF-8 response can carry) and numbers are
finite; integers in metadata fit in int64. Only the standard library: the CLI checks its inputs
with it before TensorFlow loads, and `simsearch.index` checks every write with it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from simsearch.errors import DataError

__all__ = [
    "MAX_DEPTH",
    "MAX_ID_CHARS",
    "MAX_INT_ID",
    "MAX_METADATA_BYTES",
    "MAX_RADIUS",
    "MAX_TEXT_CHARS",
    "check_id",
    "check_json",
    "check_radius",
    "check_text",
    "metadata_json",
    "parse_id",
]

MAX_TEXT_CHARS = 1_000_000
MAX_METADATA_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_ID_CHARS = 1024
MAX_INT_ID = 2**63 - 1
MAX_RADIUS = 3.4028234663852886e38

_INT_TEXT = re.compile(r"[+-]?0*([0-9]+)")
_SCALARS = (str, int, float, bool, type(None))


def check_text(value: str, what: str) -> str:
    """Return `value` when it is valid Unicode of at most `MAX_TEXT_CHARS` characters.

    Example:
    >>> check_text("sony tv", "field 'name'")
    'sony tv'
    """
    if len(value) > MAX_TEXT_CHARS:
        raise DataError(
            f"Expected at most {MAX_TEXT_CHARS} characters in {what} (MAX_TEXT_CHARS). Received: {len(value)}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(
            f"Expected valid Unicode text in {what}. Received: a lone surrogate "
            f"{value[exc.start]!r} at character {exc.start}"
        ) from None
    return value


def check_json(value: Any, what: str) -> Any:
    """Return `value` when it is JSON that can be stored and sent back: objects with text keys,
    lists, valid text, finite numbers, integers within int64, nested at most `MAX_DEPTH` deep.

    The walk is iterative, so no nesting depth can exhaust Python's stack.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise DataError(
                    f"Expected {what} nested at most {MAX_DEPTH} deep (MAX_DEPTH). Received: deeper"
                )
            if isinstance(node, dict):
                for key in node:
                    if not isinstance(key, str):
                        raise DataError(f"Expected text keys in {what}. Received: {type(key).__name__}")
                    check_text(key, f"a key of {what}")
                stack.extend((child, depth + 1) for child in node.values())
            else:
                stack.extend((child, depth + 1) for child in node)
        else:
            _check_scalar(node, what)
    return value


def _check_scalar(value: Any, what: str) -> None:
    if isinstance(value, str):
        check_text(value, what)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -MAX_INT_ID - 1 <= value <= MAX_INT_ID:
            raise DataError(f"Expected integers within int64 in {what}. Received: {_short(value)}")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(f"Expected finite numbers in {what}. Received: {value}")
    else:
        raise DataError(
            f"Expected JSON-serialisable values (objects, lists, text, numbers, true/false/null) in {what}. "
            f"Received: {type(value).__name__}"
        )


def metadata_json(value: Any, what: str) -> str:
    """Return one item's metadata as JSON text after `check_json`, at most `MAX_METADATA_BYTES`."""
    text = json.dumps(check_json(value, what), allow_nan=False)
    if len(text) > MAX_METADATA_BYTES:
        raise DataError(
            f"Expected {what} of at most {MAX_METADATA_BYTES} bytes as JSON (MAX_METADATA_BYTES). "
            f"Received: {len(text)}"
        )
    return text


def check_id(value: Any, what: str = "an id") -> int | str:
    """Return a catalogue id when it is an int in [0, `MAX_INT_ID`] or a non-empty valid text of
    at most `MAX_ID_CHARS` characters."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= MAX_INT_ID:
            raise DataError(f"Expected {what} from 0 to {MAX_INT_ID} (int64). Received: {_short(value)}")
        return int(value)
    if isinstance(value, str):
        if not 0 < len(value) <= MAX_ID_CHARS:
            raise DataError(
                f"Expected {what} of 1 to {MAX_ID_CHARS} characters (MAX_ID_CHARS). "
                f"Received: {len(value)} characters"
            )
        return check_text(value, what)
    raise DataError(f"Expected {what} as an integer or a text. Received: {type(value).__name__}")


def parse_id(value: Any, kind: str, what: str = "an id") -> int | str:
    """Return an id given as text (CLI, URL) or JSON as the index's `kind` ("int" or "str") holds
    it: `"17"` is 17 among integer ids and 17 is `"17"` among text ids.

    Example:
    >>> parse_id("17", "int")
    17
    """
    if kind == "int" and isinstance(value, str):
        digits = _INT_TEXT.fullmatch(value.strip())
        if digits is None:
            raise DataError(
                f"Expected {what} as an integer (the index's ids are integers). Received: {_short(value)}"
            )
        if len(digits.group(1)) > 19:  # beyond int64 whatever the digits; int() is slow on huge ones
            raise DataError(f"Expected {what} from 0 to {MAX_INT_ID} (int64). Received: {_short(value)}")
        value = int(value)
    elif kind == "str" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return check_id(value, what)


def check_radius(radius: Any) -> float:
    """Return a range search's radius when it is a number from 0 to `MAX_RADIUS`."""
    if (
        isinstance(radius, bool)
        or not isinstance(radius, (int, float))
        or not 0 <= float(radius) <= MAX_RADIUS
    ):
        raise DataError(
            f"Expected a radius from 0 to {MAX_RADIUS:.4g} (float32's largest). Received: radius={radius!r}"
        )
    return float(radius)


def _short(value: Any) -> str:
    if isinstance(value, int) and value.bit_length() > 128:  # str() of a huge int is slow, or refused
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}... ({len(text)} characters)"
