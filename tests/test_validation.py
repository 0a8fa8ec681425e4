"""`simsearch.validation`: the limits, checked against hand-made values on both sides of each."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from simsearch.errors import DataError
from simsearch.validation import (
    MAX_DEPTH,
    MAX_ID_CHARS,
    MAX_INT_ID,
    MAX_METADATA_BYTES,
    MAX_RADIUS,
    MAX_TEXT_CHARS,
    check_id,
    check_json,
    check_radius,
    check_text,
    metadata_json,
    parse_id,
)


def nested(depth: int) -> Any:
    """`depth` lists inside each other."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_text_is_valid_unicode_within_the_limit() -> None:
    assert check_text("x" * MAX_TEXT_CHARS, "t") == "x" * MAX_TEXT_CHARS
    with pytest.raises(DataError, match=f"at most {MAX_TEXT_CHARS} characters in t"):
        check_text("x" * (MAX_TEXT_CHARS + 1), "t")
    with pytest.raises(DataError, match="lone surrogate '\\\\ud800' at character 2"):
        check_text("ab\ud800", "t")


def test_json_depth_is_counted_without_recursion() -> None:
    assert check_json({"a": nested(MAX_DEPTH - 1)}, "m")
    with pytest.raises(DataError, match=f"nested at most {MAX_DEPTH} deep"):
        check_json({"a": nested(MAX_DEPTH)}, "m")
    with pytest.raises(DataError, match="deep"):  # far past Python's recursion limit
        check_json(nested(sys.getrecursionlimit() * 10), "m")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param({"a": float("nan")}, "finite", id="nan"),
        pytest.param({"a": [float("inf")]}, "finite", id="inf"),
        pytest.param({"a": MAX_INT_ID + 1}, "int64", id="int-beyond-int64"),
        pytest.param({"a": -MAX_INT_ID - 2}, "int64", id="int-below-int64"),
        pytest.param({"a": 10**5000}, "digits", id="int-of-5000-digits"),
        pytest.param({1: "a"}, "text keys", id="int-key"),
        pytest.param({"a": {"\udc80": 1}}, "surrogate", id="surrogate-key"),
        pytest.param({"a": object()}, "JSON-serialisable", id="object"),
    ],
)
def test_json_refuses_what_cannot_be_sent_back(value: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        check_json(value, "m")


def test_metadata_json_is_bounded_in_bytes() -> None:
    text = metadata_json({"a": -MAX_INT_ID - 1, "b": "é"}, "m")
    assert text == '{"a": -9223372036854775808, "b": "\\u00e9"}'
    with pytest.raises(DataError, match=f"at most {MAX_METADATA_BYTES} bytes"):
        metadata_json({"a": ["x" * 1000] * 1000}, "m")


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        pytest.param("17", "int", 17, id="text-to-int"),
        pytest.param("+017", "int", 17, id="signed-zero-padded"),
        pytest.param(str(MAX_INT_ID), "int", MAX_INT_ID, id="int64-max"),
        pytest.param(17, "str", "17", id="int-to-text"),
        pytest.param("a" * MAX_ID_CHARS, "str", "a" * MAX_ID_CHARS, id="longest-text-id"),
    ],
)
def test_parse_id(value: Any, kind: str, expected: Any) -> None:
    assert parse_id(value, kind) == expected


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        pytest.param(str(MAX_INT_ID + 1), "int", "int64", id="int64-max-plus-one"),
        pytest.param("9" * 100_000, "int", "int64", id="100k-digits"),
        pytest.param("-1", "int", "from 0", id="negative"),
        pytest.param("sony", "int", "as an integer", id="not-an-integer"),
        pytest.param("a" * (MAX_ID_CHARS + 1), "str", f"1 to {MAX_ID_CHARS} characters", id="long-text-id"),
        pytest.param("", "str", "1 to", id="empty"),
        pytest.param("\ud800", "str", "surrogate", id="surrogate"),
        pytest.param(1.5, "str", "an integer or a text", id="float"),
    ],
)
def test_parse_id_refuses(value: Any, kind: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_id(value, kind)
    if isinstance(value, int):
        with pytest.raises(DataError):
            check_id(value)


@pytest.mark.parametrize("radius", [-1.0, MAX_RADIUS * 2, 1e308, float("inf"), float("nan"), True, "1"])
def test_radius_fits_float32(radius: Any) -> None:
    with pytest.raises(DataError, match="radius from 0 to"):
        check_radius(radius)
    assert check_radius(MAX_RADIUS) == MAX_RADIUS and check_radius(0) == 0.0
