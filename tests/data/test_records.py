"""The record rule and the id rule of `simsearch.data.records`, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.data.records import check_records, table_ids
from simsearch.errors import DataError

FIELDS = ["name", "price"]


def test_records_are_completed_with_the_fields_they_leave_out() -> None:
    got = check_records([{"name": "sony tv"}, {"price": 3.0, "name": "x"}], FIELDS)
    assert got == [{"name": "sony tv", "price": None}, {"name": "x", "price": 3.0}]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (
            [{"title": "sony"}],
            r"among \['name', 'price'\].*Received: fields \['title'\] \(unknown: \['title'\]\)",
        ),
        ([{"name": "a"}, {"nmae": "b"}], r"as item 1.*unknown: \['nmae'\]"),
        ([{}], r"none of the model's"),
        (["sony"], r"JSON object.*Received: str"),
    ],
    ids=["unknown", "misspelt-second", "empty", "not-an-object"],
)
def test_records_that_break_the_rule_are_refused(records: list[object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        check_records(records, FIELDS)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["0", "12", "7"], np.array([0, 12, 7], np.int64)),
        (["012", "1"], np.array(["012", "1"])),
        (["+1", "2"], np.array(["+1", "2"])),
        (["a1", "2"], np.array(["a1", "2"])),
        (["99999999999999999999"], np.array(["99999999999999999999"])),
    ],
    ids=["plain-ints", "leading-zero", "sign", "text", "beyond-int64"],
)
def test_table_ids_are_ints_only_when_every_one_is_a_plain_integer(
    cells: list[str], expected: np.ndarray
) -> None:
    got = table_ids(cells)
    assert got.dtype.kind == expected.dtype.kind and got.tolist() == expected.tolist()
