"""Ditto-style serialisation of records: normalised values, summarised long values, hand-built
records as the oracle."""

from __future__ import annotations

import math

import pytest

from simsearch.data.serialize import (
    fit_idf,
    normalize_value,
    serialize_record,
    serialize_records,
    summarize,
    word_budgets,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$1,299.00", "1299"),
        ("399.90", "399.9"),
        ("12", "12"),
        ("Sony KDL-40V4100 40'' LCD", "sony kdl40v4100 40 lcd"),
        ("Canon PowerShot SD1100IS / 8.0 MP", "canon powershot sd1100is 8 mp"),
        ("sd/2gb card, black.", "sd2gb card black"),
        ("well-made (new)", "well-made new"),
        ("", ""),
    ],
    ids=["price", "decimals", "integer", "code", "slash_and_number", "code_slash", "words", "empty"],
)
def test_normalize_value(raw: str, expected: str) -> None:
    assert normalize_value(raw) == expected


def test_the_two_shops_spellings_of_a_code_meet() -> None:
    assert normalize_value("KDL-40V4100") == normalize_value("kdl40v4100") == normalize_value("KDL/40V4100")


def test_idf_as_scikit_learn_smooths_it() -> None:
    idf = fit_idf(["sony tv", "sony radio", "lg tv"])
    assert idf["sony"] == pytest.approx(math.log(4 / 3) + 1)
    assert idf["lg"] == pytest.approx(math.log(4 / 2) + 1)


def test_summarize_keeps_the_rarest_words_in_order() -> None:
    idf = {"the": 1.0, "and": 1.0, "sony": 3.0, "hdtv": 2.5, "black": 2.0}
    words = ["the", "sony", "and", "the", "black", "hdtv"]
    assert summarize(words, idf, 3) == ["sony", "black", "hdtv"]
    assert summarize(words, idf, 10) == words
    assert summarize(words, idf, 0) == []
    # "the" twice weighs 1 + log 2 and beats "and"; a word unseen in training counts as the rarest.
    assert summarize(["and", "the", "the", "xq900"], idf, 2) == ["the", "xq900"]


@pytest.mark.parametrize(
    ("lengths", "budget", "expected"),
    [
        ([3, 50, 20], 30, [3, 14, 13]),
        ([3, 4], 30, [3, 4]),
        ([10, 10, 10], 9, [3, 3, 3]),
        ([2, 40], 10, [2, 8]),
    ],
    ids=["water_fill", "fits", "equal", "one_long"],
)
def test_word_budgets(lengths: list[int], budget: int, expected: list[int]) -> None:
    kept = word_budgets(lengths, budget)
    assert kept == expected
    assert sum(kept) == min(budget, sum(lengths))


def test_a_record_as_ditto_writes_it() -> None:
    fields = ["name", "description", "price"]
    record = ["Sony Bravia KDL-40V4100", "The Sony Bravia is the best and the brightest TV", "$999.00"]
    idf = {
        "the": 1.0,
        "is": 1.0,
        "and": 1.0,
        "sony": 2.0,
        "bravia": 3.0,
        "best": 2.5,
        "brightest": 2.5,
        "tv": 1.5,
    }
    expected = (
        "COL name VAL sony bravia kdl40v4100 COL description VAL bravia best brightest COL price VAL 999"
    )
    assert serialize_record(fields, record, idf, max_words=7) == expected
    # Within the budget nothing is cut; an empty value keeps its column.
    assert serialize_records(["name", "brand"], [["Sony TV"], [""]], idf, 64) == [
        "COL name VAL sony tv COL brand VAL"
    ]
