"""Field types of record linkage columns: codes, identifiers and dates are text; numbers only
where a ratio means something."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.data.field_types import choose_field_types, infer_field_type
from simsearch.errors import ConfigError

# A column name, its cells as a user's CSV holds them, and the type a record-linkage user would choose.
CASES = [
    ("postcode", ["0832", "2000", "2612", "0800"], "text", "the name says"),
    ("zip", ["2000", "2612"], "text", "the name says"),
    ("ssn", ["123456789", "987654321", "555443333"], "text", "the name says"),
    ("soc_sec_id", ["1234567", "7654321"], "text", "the name says"),
    ("phoneNo", ["0298765432", "0398765432"], "text", "the name says"),
    ("street_number", ["12", "7", "130"], "text", "the name says"),
    ("date_of_birth", ["19850612", "19901231"], "text", "the name says"),
    ("dob", ["19850612", "19901231"], "text", "the name says"),
    ("born", ["1985-06-12", "1990-12-31"], "text", "not all values are numbers"),
    ("c7", ["19850612", "19901231", "20010101"], "text", "dates written YYYYMMDD"),
    ("c8", ["0832", "2000"], "text", "leading zeros, e.g. '0832'"),
    ("c9", ["123456789", "987654321", "555443333"], "text", "fixed width: every value has 9 digits"),
    ("c10", ["5", "17", "230", "1100", "12"], "text", "whole numbers, 5 distinct of 5, as codes are"),
    ("name", ["connor beckwith", "olivia artis"], "text", "not all values are numbers"),
    ("price", ["19.99", "249", "1299.00", ""], "numeric", "a quantity's name: 'price'"),
    ("weight_kg", ["2", "40", "3"], "numeric", "a quantity's name: 'weight'"),
    ("size", ["100", "2500"], "numeric", "a quantity's name: 'size'"),
    ("c18", ["0.5", "12.25", "3"], "numeric", "numbers with decimals"),
    ("price_code", ["0832", "1000"], "text", "the name says"),  # a code word wins over a quantity's
    ("empty", ["", ""], "text", "no values"),
    ("c21", ["nan", "inf"], "text", "not all values are numbers"),
]


@pytest.mark.parametrize(("name", "values", "kind", "why"), CASES, ids=[c[0] for c in CASES])
def test_infer_field_type(name: str, values: list[str], kind: str, why: str) -> None:
    found = infer_field_type(name, values)
    assert (found.name, found.kind) == (name, kind)
    assert why in found.reason


def test_floats_from_parquet_are_read_by_their_value() -> None:
    assert infer_field_type("price", np.array([19.99, np.nan], np.float32)).kind == "numeric"
    assert infer_field_type("c", np.array([832.0, 2000.0, 12.0])).kind == "text"  # whole numbers
    assert infer_field_type("c", np.array([0.5, 2.25])).kind == "numeric"


def test_options_override_the_inference() -> None:
    columns = {"name": ["a", "b"], "postcode": ["0832", "2000"], "price": ["1.5", "3"]}
    inferred = {t.name: t.kind for t in choose_field_types(columns)}
    assert inferred == {"name": "text", "postcode": "text", "price": "numeric"}
    exact = {t.name: t.kind for t in choose_field_types(columns, numeric=["postcode"])}
    assert exact == {"name": "text", "postcode": "numeric", "price": "text"}
    none = choose_field_types(columns, numeric=[])
    assert {t.kind for t in none} == {"text"} and none[2].reason == "not in --numeric-fields"
    forced = {t.name: t.kind for t in choose_field_types(columns, text=["price"])}
    assert forced == {"name": "text", "postcode": "text", "price": "text"}
    with pytest.raises(ConfigError, match=r"--numeric-fields among the fields .*Received: \['prise'\]"):
        choose_field_types(columns, numeric=["prise"])
    with pytest.raises(ConfigError, match=r"not both. Received: \['price'\]"):
        choose_field_types(columns, numeric=["price"], text=["price"])


def test_describe_says_the_type_and_why() -> None:
    assert infer_field_type("c", ["0832"]).describe() == "c: text (leading zeros, e.g. '0832')"
    described = infer_field_type("price", ["3.5"]).describe()
    assert described == "price: number (numbers under a quantity's name: 'price')"
