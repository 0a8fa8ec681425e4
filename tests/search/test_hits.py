"""`Hit`: built from the index's JSON text, it reads, compares, pickles and serialises as one
built from a dict; it cannot be changed."""

from __future__ import annotations

import json
import pickle

import pytest

from simsearch.search.hits import Hit

TEXT = json.dumps({"title": "sony tv", "price": 399, "tags": ["a", "b"]})


def test_a_stored_hit_equals_one_built_from_its_dict() -> None:
    stored = Hit.stored("sku-1", 0.25, TEXT)
    built = Hit("sku-1", 0.25, None, json.loads(TEXT))
    assert stored.metadata_json == TEXT  # never parsed: the index's own text
    assert stored == built and built == stored
    assert stored.metadata == json.loads(TEXT)
    assert stored.to_dict() == {"id": "sku-1", "distance": 0.25, "score": None, "metadata": json.loads(TEXT)}
    assert repr(stored) == repr(built)
    assert Hit.stored("sku-1", 0.25, None).metadata == {} and Hit.stored(1, 0.5, None).metadata_json == "{}"
    assert stored != Hit.stored("sku-1", 0.5, TEXT) and stored != Hit.stored("sku-2", 0.25, TEXT)


def test_a_hit_cannot_be_changed_and_is_unhashable() -> None:
    hit = Hit.stored("sku-1", 0.25, TEXT)
    with pytest.raises(AttributeError, match="immutable"):
        hit.score = 0.9  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del hit.id
    with pytest.raises(TypeError):
        hash(hit)


def test_with_score_and_pickle_keep_everything_else() -> None:
    hit = Hit.stored("sku-1", 0.25, TEXT)
    scored = hit.with_score(0.875)
    expected = ("sku-1", 0.25, 0.875, json.loads(TEXT))
    assert (scored.id, scored.distance, scored.score, scored.metadata) == expected
    assert hit.score is None
    assert pickle.loads(pickle.dumps(scored)) == scored
