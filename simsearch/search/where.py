"""`Where`: a metadata filter, compiled once from its JSON form (Chroma / MongoDB style).

    {"shop": "b"}                                  equality
    {"shop": "b", "in_stock": true}                several fields: all must hold
    {"price": {"$gte": 10, "$lt": 20}}             several operators on a field: all must hold
    {"shop": {"$in": ["a", "b"]}}                  $eq $ne $in $nin $lt $lte $gt $gte
    {"$or": [{"shop": "a"}, {"price": {"$lt": 5}}]} $and / $or over a list of filters

Fields are the top-level keys of the items' metadata. Values are strings, finite numbers or
booleans (`true` is not the number 1); `$lt`, `$lte`, `$gt` and `$gte` take numbers and compare a
field's numbers only. As in MongoDB, `$ne` and `$nin` also pass the items that lack the field.
A `Where` is frozen and hashable, and equal filters compare equal however they were written
(`{"a": 1}` is `{"a": {"$eq": 1}}`; field order does not matter), so equal filtered queries batch
together and the index caches one mask per filter.

Parsing checks the form (`FilterError` naming the operator, field or value); evaluating checks it
against the index's fields (`simsearch.index.fields`): a field no item holds, or a value of a type
the field never holds (`$lt` on a field of strings), is a `FilterError` too.

Example:
>>> where = Where.parse({"shop": {"$in": ["a", "b"]}, "price": {"$lt": 20}})
>>> searcher.run(Query(k=5, filter=where), vectors=xq)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import FilterError
from simsearch.index.fields import Column, Fields

__all__ = ["COMPARISONS", "LOGICAL", "MAX_DEPTH", "OPERATORS", "Where"]

COMPARISONS = {"$lt": np.less, "$lte": np.less_equal, "$gt": np.greater, "$gte": np.greater_equal}
OPERATORS = ("$eq", "$ne", "$in", "$nin", *COMPARISONS)
LOGICAL = ("$and", "$or")
MAX_DEPTH = 32  # nesting of $and / $or

Value = tuple[str, Any]  # (JSON type, value): ("string", "b"), ("number", 2.0), ("bool", True)


@dataclass(frozen=True)
class Test:
    """One operator on one field; `values` holds one value, or the list of `$in` / `$nin`."""

    field: str
    op: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Group:
    """`$and` or `$or` of parts."""

    op: str
    parts: tuple[Node, ...]


Node = Test | Group


@dataclass(frozen=True)
class Where:
    """A compiled metadata filter; build it with `Where.parse` (see the module docstring)."""

    node: Node

    @classmethod
    def parse(cls, where: Any) -> Where:
        """Compile a JSON filter; `FilterError` naming what is malformed."""
        return cls(_parse(where, "where", 0))

    @property
    def fields(self) -> frozenset[str]:
        """The fields it names."""
        return frozenset(t.field for t in _tests(self.node))

    def check(self, fields: Fields) -> None:
        """`FilterError` for a field the items lack, or a value of a type the field never holds."""
        for test in _tests(self.node):
            _check_test(test, fields.column(test.field), fields)

    def mask(self, fields: Fields) -> npt.NDArray[np.bool_]:
        """Return the `(fields.n,)` mask of the rows that pass (after `check`)."""
        self.check(fields)
        return _mask(self.node, fields)


def _parse(where: Any, at: str, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise FilterError(f"Expected a where nested at most {MAX_DEPTH} deep. Received: deeper at {at}")
    if not isinstance(where, Mapping):
        raise FilterError(
            f'Expected {at} as an object of fields and conditions, e.g. {{"shop": "b"}}. '
            f"Received: {_kind(where)}"
        )
    parts: list[Node] = []
    for name, condition in sorted(where.items(), key=lambda item: str(item[0])):
        if not isinstance(name, str) or not name:
            raise FilterError(f"Expected field names as non-empty strings in {at}. Received: {name!r}")
        if name in LOGICAL:
            parts.append(_parse_group(name, condition, f"{at}.{name}", depth))
        elif name.startswith("$"):
            raise FilterError(
                f"Expected a field name or one of {list(LOGICAL)} in {at}. Received: unknown "
                f"operator {name!r}"
            )
        else:
            parts.extend(_parse_field(name, condition))
    return parts[0] if len(parts) == 1 else Group("$and", tuple(parts))


def _parse_group(op: str, items: Any, at: str, depth: int) -> Group:
    if not isinstance(items, list) or not items:
        raise FilterError(f"Expected {at} as a non-empty list of filters. Received: {_kind(items)}")
    return Group(op, tuple(_parse(item, f"{at}[{i}]", depth + 1) for i, item in enumerate(items)))


def _parse_field(name: str, condition: Any) -> list[Test]:
    if not isinstance(condition, Mapping):
        return [Test(name, "$eq", (_value(condition, name, "$eq"),))]
    if not condition:
        raise FilterError(f"Expected at least one operator for field {name!r}. Received: {{}}")
    tests = []
    for op, operand in sorted(condition.items(), key=lambda item: str(item[0])):
        if op not in OPERATORS:
            raise FilterError(
                f"Expected an operator in {list(OPERATORS)} for field {name!r}. Received: {op!r}"
            )
        if op in ("$in", "$nin"):
            if not isinstance(operand, list):
                raise FilterError(
                    f"Expected a list for {op} of field {name!r}. Received: {_kind(operand)}"
                )
            values = tuple(sorted({_value(v, name, op) for v in operand}, key=repr))
        else:
            values = (_value(operand, name, op),)
            if op in COMPARISONS and values[0][0] != "number":
                raise FilterError(
                    f"Expected a number for {op} of field {name!r}. Received: {operand!r}"
                )
        tests.append(Test(name, op, values))
    return tests


def _value(value: Any, name: str, op: str) -> Value:
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return ("number", number)
    received = repr(value) if isinstance(value, (int, float)) else _kind(value)
    raise FilterError(
        f"Expected a string, a finite number or a boolean for {op} of field {name!r}. Received: {received}"
    )


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return next((text for kind, text in names.items() if isinstance(value, kind)), type(value).__name__)


def _tests(node: Node) -> list[Test]:
    if isinstance(node, Test):
        return [node]
    return [test for part in node.parts for test in _tests(part)]


def _check_test(test: Test, column: Column | None, fields: Fields) -> None:
    if column is None:
        known = sorted(fields.columns)
        shown = f"{known[:20]}{' ...' if len(known) > 20 else ''}" if known else "none"
        raise FilterError(
            f"Expected a field the items' metadata holds (fields: {shown}). Received: {test.field!r}"
        )
    held = sorted(column.types - {"other"})
    if test.op in COMPARISONS:
        if "number" not in column.types:
            raise FilterError(
                f"Expected {test.op} on a field of numbers. Received: field {test.field!r}, which "
                f"holds {_held(column)}"
            )
        return
    for kind, value in test.values:
        if kind not in column.types:
            raise FilterError(
                f"Expected a value of the type field {test.field!r} holds ({', '.join(held) or 'none'}) "
                f"for {test.op}. Received: {value!r} (a {kind})"
            )


def _held(column: Column) -> str:
    names = {"number": "numbers", "string": "strings", "bool": "booleans", "other": "lists, objects or null"}
    return " and ".join(names[t] for t in sorted(column.types)) or "no values"


def _mask(node: Node, fields: Fields) -> npt.NDArray[np.bool_]:
    if isinstance(node, Group):
        masks = [_mask(part, fields) for part in node.parts]
        reduce = np.logical_and.reduce if node.op == "$and" else np.logical_or.reduce
        return np.asarray(reduce(masks), bool) if masks else np.ones(fields.n, bool)
    column = fields.column(node.field)
    assert column is not None  # checked by Where.check
    if node.op in COMPARISONS:
        return np.asarray(COMPARISONS[node.op](column.numbers, node.values[0][1]), bool)
    hit = _member(column, node.values)
    return ~hit if node.op in ("$ne", "$nin") else hit


def _member(column: Column, values: tuple[Value, ...]) -> npt.NDArray[np.bool_]:
    """Rows whose value is one of `values`, compared within each JSON type."""
    hit = np.zeros(len(column.numbers), bool)
    strings = [column.vocab[v] for kind, v in values if kind == "string" and v in column.vocab]
    numbers = [v for kind, v in values if kind == "number"]
    bools = [int(v) for kind, v in values if kind == "bool"]
    if strings:
        hit |= np.isin(column.codes, strings)
    if numbers:
        hit |= np.isin(column.numbers, numbers)
    if bools:
        hit |= np.isin(column.bools, bools)
    return hit
