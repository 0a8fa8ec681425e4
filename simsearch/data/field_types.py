"""Which fields of a record the record tower compares as numbers, and why.

A numeric field goes through a log-ratio kernel: two values a few percent apart agree. That is
right for a price or a weight and wrong for an identifier: postcodes 2000 and 2010, or two
social security numbers, are different people whatever their ratio. Record linkage data are
full of digits that are codes, so a field is numeric only on evidence that its values are
magnitudes, and text otherwise (compared by character n-grams, where a typo costs a little and
`0832` stays `0832`):

- text: values that are not all numbers; a name that says identifier, code or date (`id`,
  `zip`, `postcode`, `ssn`, `phone`, `no`, `dob`, `year`, ...); leading zeros; dates written
  YYYYMMDD; fixed width (every value the same number of digits, 4 or more); whole numbers
  under any name that is not a quantity's;
- numeric: a quantity's name (`price`, `size`, `weight`, ...) over numbers, or numbers with
  decimals.

Only numpy and the standard library: the CLI infers and prints the types before TensorFlow loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from simsearch.errors import ConfigError

__all__ = ["FieldType", "choose_field_types", "infer_field_type"]

FieldKind = Literal["text", "numeric"]

# Words of a column name that say its digits are a code, an identifier or a date.
CODE_WORDS = frozenset(
    {
        "id", "ids", "uid", "uuid", "key", "code", "codes", "zip", "zipcode", "postcode", "postal", "plz",
        "cep", "pin", "ssn", "sin", "nin", "nino", "tin", "ein", "vat", "phone", "tel", "telephone",
        "mobile", "cell", "fax", "number", "num", "no", "nr", "nbr", "sku", "isbn", "issn", "ean", "upc",
        "gtin", "mpn", "asin", "model", "modelno", "serial", "account", "acct", "iban", "bic", "swift",
        "card", "passport", "licence", "license", "date", "dob", "birth", "birthdate", "birthday", "born",
        "year", "yr", "month", "day", "time", "timestamp", "ts", "street", "house", "building", "unit",
        "apt", "suite", "room"
    }
)
# Parts of a run-together name (`zipcode`, `dateofbirth`, `phonenumber`) that say the same.
CODE_PARTS = ("postcode", "zip", "ssn", "phone", "isbn", "birth", "date", "code", "number")
# Words of a name that say its numbers are magnitudes: a ratio of two values means something.
QUANTITY_WORDS = frozenset(
    {
        "price", "prices", "cost", "costs", "amount", "total", "sum", "fee", "fees", "salary", "income",
        "revenue", "sales", "value", "size", "weight", "mass", "length", "width", "height", "depth", "area",
        "volume", "capacity", "distance", "duration", "quantity", "qty", "count", "rating", "score", "age",
        "kg", "lb", "lbs", "oz", "km", "cm", "mm", "mb", "gb", "tb", "kb", "ml"
    }
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DIGITS = re.compile(r"[+-]?\d+")
_FIXED_WIDTH = 4  # fewer digits are too often a small quantity's (prices 100-999)


@dataclass(frozen=True)
class FieldType:
    """A field's type for the record tower and the reason it was chosen."""

    name: str
    kind: FieldKind
    reason: str

    def describe(self) -> str:
        """One line: `postcode: text (leading zeros, e.g. '0832')`."""
        return f"{self.name}: {'number' if self.kind == 'numeric' else 'text'} ({self.reason})"


def infer_field_type(name: str, values: Iterable[Any]) -> FieldType:
    """Infer whether the record tower compares column `name` as text or as numbers.

    Example:
        >>> infer_field_type("postcode", ["0832", "2000"]).describe()
        "postcode: text (the name says a code, an identifier or a date: 'postcode')"
        >>> infer_field_type("price", ["19.99", "249"]).kind
        'numeric'
    """
    cells = [_cell(value) for value in values]
    present = [cell for cell in cells if cell]
    if not present:
        return FieldType(name, "text", "no values")
    not_numbers = [cell for cell in present if not _NUMBER.fullmatch(cell)]
    if not_numbers:
        return FieldType(name, "text", f"not all values are numbers, e.g. {not_numbers[0]!r}")
    code_word = _code_word(name)
    if code_word:
        return FieldType(name, "text", f"the name says a code, an identifier or a date: {code_word!r}")
    zeros = [cell for cell in present if re.fullmatch(r"[+-]?0\d+(?:\.\d*)?", cell)]
    if zeros:
        return FieldType(name, "text", f"leading zeros, e.g. {zeros[0]!r}")
    whole = all(_DIGITS.fullmatch(cell) for cell in present)
    if whole and all(_is_yyyymmdd(cell) for cell in present):
        return FieldType(name, "text", "dates written YYYYMMDD")
    quantity = _quantity_word(name)
    if quantity:
        return FieldType(name, "numeric", f"numbers under a quantity's name: {quantity!r}")
    if not all(float(cell).is_integer() for cell in present):
        return FieldType(name, "numeric", "numbers with decimals")
    widths = {len(cell.lstrip("+-").split(".")[0]) for cell in present}
    if len(widths) == 1 and min(widths) >= _FIXED_WIDTH:
        return FieldType(name, "text", f"fixed width: every value has {min(widths)} digits, as codes do")
    distinct = len(set(present))
    if distinct > len(present) // 2:
        why = f"whole numbers, {distinct} distinct of {len(present)}, as codes are"
    else:
        why = "whole numbers"
    return FieldType(name, "text", f"{why}, and the name is not a quantity's (price, size, weight, ...)")


def choose_field_types(
    columns: Mapping[str, Any],
    *,
    numeric: Sequence[str] | None = None,
    text: Sequence[str] | None = None,
) -> list[FieldType]:
    """The type of every column: `numeric` given, exactly those are numbers and the rest text;
    `text` given, those are text whatever they look like; the others are inferred
    (`infer_field_type`).

    Raises:
        ConfigError: a named field that is not a column, or one named both numeric and text.
    """
    names = list(columns)
    for option, given in (("--numeric-fields", numeric), ("--text-fields", text)):
        unknown = [field for field in given or () if field not in names]
        if unknown:
            raise ConfigError(f"Expected {option} among the fields {names}. Received: {unknown}")
    both = sorted(set(numeric or ()) & set(text or ()))
    if both:
        raise ConfigError(
            f"Expected a field in --numeric-fields or --text-fields, not both. Received: {both}"
        )
    out = []
    for name in names:
        if numeric is not None:
            kind: FieldKind = "numeric" if name in numeric else "text"
            out.append(FieldType(name, kind, f"{'in' if kind == 'numeric' else 'not in'} --numeric-fields"))
        elif text is not None and name in text:
            out.append(FieldType(name, "text", "in --text-fields"))
        else:
            out.append(infer_field_type(name, columns[name]))
    return out


def _cell(value: Any) -> str:
    """A value as the text it was written as; a float (from Parquet or Python) as its shortest
    repr, '' when missing."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else repr(float(value))
    return str(value).strip()


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)  # phoneNo -> phone No
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


def _code_word(name: str) -> str | None:
    words = _words(name)
    found = next((word for word in words if word in CODE_WORDS), None)
    if found is None:
        found = next((part for word in words for part in CODE_PARTS if part in word), None)
    return found


def _quantity_word(name: str) -> str | None:
    return next((word for word in _words(name) if word in QUANTITY_WORDS), None)


def _is_yyyymmdd(cell: str) -> bool:
    if len(cell) != 8:
        return False
    year, month, day = int(cell[:4]), int(cell[4:6]), int(cell[6:])
    return 1800 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31
