"""Occlusion explanations (`search.explain`) over a hand-made encoder, on pairs whose deciding
field is known; the changes checked against the distances computed by hand."""

from __future__ import annotations

import json
import zlib
from typing import Any

import numpy as np
import pytest

from simsearch.errors import ConfigError
from simsearch.search.explain import explain_pair, explain_pairs

DIM = 256
WEIGHTS = {"title": 1.0, "brand": 1.0, "code": 2.0, "price": 0.5}


def _bag(text: str) -> np.ndarray:
    """Hashed character trigrams of `text`, L2-normalised (zeros for an empty text)."""
    x = np.zeros(DIM)
    padded = f" {text.lower()} "
    for i in range(len(padded) - 2):
        x[zlib.crc32(padded[i : i + 3].encode()) % DIM] += 1.0
    norm = np.linalg.norm(x)
    return x / norm if norm else x


def encode(items: list[Any]) -> np.ndarray:
    """A record tower by hand: each field's bag times its weight, summed and normalised."""
    rows = []
    for item in items:
        record = {"text": item} if isinstance(item, str) else item
        x = sum(
            (
                WEIGHTS.get(name, 1.0) * _bag("" if value is None else str(value))
                for name, value in record.items()
            ),
            np.zeros(DIM),
        )
        norm = np.linalg.norm(x)
        rows.append(x / norm if norm else x)
    return np.asarray(rows, dtype=np.float32)


def distance(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return 1.0 - np.sum(u * v, axis=1)


def _d(a: Any, b: Any) -> float:
    return float(distance(encode([a]), encode([b]))[0])


CAMERA = {"title": "digital camera 20mp black", "brand": "sony", "code": "dsc-w800"}


def test_a_pair_identical_but_its_code_names_the_code_field_first() -> None:
    other = {**CAMERA, "code": "dsc-w830"}
    explanation = explain_pair(CAMERA, other, encode, distance, same=False, distance_threshold=0.2)
    first = explanation.fields[0]
    assert first.field == "code"
    assert first.state == "differs"
    assert first.change < 0
    assert {e.field: e.state for e in explanation.fields[1:]} == {"title": "agrees", "brand": "agrees"}
    # the oracle: the change is the distance without the field minus the distance with it
    without = {**CAMERA, "code": ""}, {**other, "code": ""}
    assert first.change == pytest.approx(_d(*without) - _d(CAMERA, other), abs=1e-5)
    assert explanation.value == pytest.approx(_d(CAMERA, other), abs=1e-5)
    assert first.tokens == ()  # a one-word value: dropping the word is dropping the field


def test_a_differing_model_number_inside_a_title_names_its_words_first() -> None:
    a = {"title": "sony digital camera dsc-w800 black", "brand": "sony"}
    b = {"title": "sony digital camera dsc-w830 black", "brand": "sony"}
    explanation = explain_pair(a, b, encode, distance, same=False)
    title = next(e for e in explanation.fields if e.field == "title")
    assert title.tokens[0][0] == "dsc-w800 / dsc-w830"  # the words only one side has, together
    # the oracle: dropping them from both sides changes the distance by this much
    without = {**a, "title": "sony digital camera black"}
    assert title.tokens[0][1] == pytest.approx(_d(without, {**b, **without}) - _d(a, b), abs=1e-5)
    assert title.tokens[0][1] < 0
    assert all(change > 0 for _, change in title.tokens[1:])  # the shared words pull together


def test_identical_names_different_brands() -> None:
    a = {"title": "wireless noise cancelling headphones", "brand": "sony"}
    b = {"title": "wireless noise cancelling headphones", "brand": "panasonic"}
    explanation = explain_pair(a, b, encode, distance, same=False, distance_threshold=0.2)
    assert [(e.field, e.state) for e in explanation.fields] == [("brand", "differs"), ("title", "agrees")]
    brand, title = explanation.fields
    assert title.similarity == pytest.approx(1.0, abs=1e-5)  # the titles alone are identical
    assert brand.similarity == pytest.approx(1.0 - _d({"brand": "sony"}, {"brand": "panasonic"}), abs=1e-5)
    assert title.change > 0 > brand.change


def test_a_pair_judged_the_same_lists_what_pulled_it_together_first() -> None:
    a = {"title": "wireless noise cancelling headphones", "brand": "sony"}
    b = {"title": "wireless noise cancelling headphones", "brand": "sony inc"}
    explanation = explain_pair(a, b, encode, distance, same=True)
    assert explanation.fields[0].field == "title"
    assert explanation.fields[0].change == max(e.change for e in explanation.fields)


def test_without_a_decision_fields_go_by_the_size_of_their_change() -> None:
    a, b = {**CAMERA, "code": "dsc-w800"}, {**CAMERA, "code": "xyz"}
    changes = [abs(e.change) for e in explain_pair(a, b, encode, distance).fields]
    assert changes == sorted(changes, reverse=True)


def test_a_missing_field_is_missing() -> None:
    explanation = explain_pair({**CAMERA, "brand": None}, CAMERA, encode, distance, same=True)
    assert {e.field: e.state for e in explanation.fields}["brand"] == "missing"


def test_texts_are_one_field_whose_words_are_explained() -> None:
    explanation = explain_pair(
        "red running shoes size 42", "red running shoes size 44", encode, distance, same=False
    )
    (text,) = explanation.fields
    assert text.field == "text"
    words = dict(text.tokens)
    assert set(words) <= {"42 / 44", "size", "red", "running", "shoes"}
    assert words["42 / 44"] < 0  # the differing sizes pull apart
    assert text.tokens[0][0] == "42 / 44"


def test_changes_are_in_probability_with_a_head() -> None:
    def head(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(20.0 * (distance(u, v) - 0.3)))

    other = {**CAMERA, "code": "dsc-w830"}
    explanation = explain_pair(CAMERA, other, encode, distance, score_pairs=head, same=False)
    assert explanation.by == "probability"
    code = explanation.fields[0]
    assert code.field == "code"
    u, v = encode([CAMERA]), encode([other])
    nu, nv = encode([{**CAMERA, "code": ""}]), encode([{**other, "code": ""}])
    assert code.change == pytest.approx(float(head(u, v)[0] - head(nu, nv)[0]), abs=1e-5)


def test_many_pairs_in_one_call_match_one_at_a_time() -> None:
    lefts = [CAMERA, {"title": "a b c", "brand": "x"}]
    rights = [{**CAMERA, "code": "zz"}, {"title": "a b d", "brand": "x"}]
    together = explain_pairs(lefts, rights, encode, distance, same=[False, True])
    alone = [
        explain_pair(a, b, encode, distance, same=s)
        for a, b, s in zip(lefts, rights, [False, True], strict=True)
    ]
    assert [e.as_dict() for e in together] == [e.as_dict() for e in alone]
    as_array = explain_pairs(lefts, rights, encode, distance, same=np.array([False, True]))
    assert [e.as_dict() for e in as_array] == [e.as_dict() for e in alone]
    with pytest.raises(ConfigError, match="one decision per pair"):
        explain_pairs(lefts, rights, encode, distance, same=[True])


def test_fields_limits_the_explained_fields() -> None:
    a = {**CAMERA, "label": "cameras"}
    explanation = explain_pair(a, CAMERA, encode, distance, fields=["title", "code"])
    assert sorted(e.field for e in explanation.fields) == ["code", "title"]


def test_the_json_form_is_compact_and_reads_back() -> None:
    explanation = explain_pair(
        CAMERA, {**CAMERA, "code": "x"}, encode, distance, same=False, weights={"code": {"chars": 2.0}}
    )
    text = explanation.to_json()
    assert " " not in text.replace("digital camera", "")  # no padding
    data = json.loads(text)
    assert data["by"] == "distance"
    assert data["fields"][0]["field"] == "code"
    assert data["fields"][0]["weight"] == {"chars": 2.0}
    line = explanation.lines()[0]
    assert line.startswith("code differs ") and "weight 2.00" in line


def test_an_item_that_is_neither_record_nor_text_is_refused() -> None:
    with pytest.raises(ConfigError, match="Expected a record"):
        explain_pair(np.zeros(3), np.zeros(3), encode, distance)
    with pytest.raises(ConfigError, match="as many left as right"):
        explain_pairs([CAMERA], [], encode, distance)
