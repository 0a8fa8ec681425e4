"""Metadata filters (`where`): the operators against a Python oracle over hand-built metadata, and
filtered top-k searches against NumPy brute force on Flat, IVF and HNSW, after deletes and adds."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from simsearch.errors import FilterError
from simsearch.index import FaissIndex, IndexConfig, SearchParams
from simsearch.index.fields import Fields
from simsearch.search import Query, Searcher
from simsearch.search.where import Where

MISSING = object()

# Hand-built metadata: missing fields, null, lists, booleans beside numbers, mixed types.
METADATA: list[Any] = [
    {"shop": "a", "price": 5, "stock": True, "tags": ["x"]},
    {"shop": "b", "price": 12.5, "stock": False},
    {"shop": "b", "price": 20, "stock": True, "colour": "red"},
    {"shop": "c", "price": 1, "colour": None},
    {"shop": "a", "price": "n/a", "stock": 1},
    {"price": 0},
    None,
    {"shop": "B", "price": -3.5, "stock": False, "colour": "blue"},
    {"shop": "b", "price": 12.5, "stock": 0, "colour": "red"},
    {"shop": "", "price": 1e30},
]


def _same(a: Any, b: Any) -> bool:
    """JSON equality: booleans equal only booleans, numbers compare as numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and isinstance(a, str) and a == b


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _passes(value: Any, op: str, x: Any) -> bool:
    present = value is not MISSING
    if op in ("$eq", "$ne"):
        return (present and _same(value, x)) == (op == "$eq")
    if op in ("$in", "$nin"):
        return (present and any(_same(value, y) for y in x)) == (op == "$in")
    compare = {"$lt": float.__lt__, "$lte": float.__le__, "$gt": float.__gt__, "$gte": float.__ge__}[op]
    return _number(value) and compare(float(value), float(x))


def _field_ok(value: Any, condition: Any) -> bool:
    if not isinstance(condition, dict):
        condition = {"$eq": condition}
    return all(_passes(value, op, x) for op, x in condition.items())


def oracle(meta: Any, where: dict[str, Any]) -> bool:
    """The written semantics, item by item (the module docstring of simsearch.search.where)."""
    meta = meta or {}
    for key, condition in where.items():
        if key == "$and":
            ok = all(oracle(meta, w) for w in condition)
        elif key == "$or":
            ok = any(oracle(meta, w) for w in condition)
        else:
            ok = _field_ok(meta.get(key, MISSING), condition)
        if not ok:
            return False
    return True


WHERES = {
    "eq-string": {"shop": "b"},
    "eq-number": {"price": 12.5},
    "eq-int-as-float": {"price": 20.0},
    "eq-bool-not-1": {"stock": True},
    "eq-number-not-true": {"stock": 1},
    "several-fields": {"shop": "b", "colour": "red"},
    "ne-passes-missing": {"shop": {"$ne": "b"}},
    "in": {"shop": {"$in": ["a", "c", "zz"]}},
    "in-mixed-types": {"stock": {"$in": [False, 1]}},
    "in-empty": {"shop": {"$in": []}},
    "nin": {"shop": {"$nin": ["a", "b"]}},
    "lt": {"price": {"$lt": 5}},
    "lte": {"price": {"$lte": 5}},
    "gt": {"price": {"$gt": 12.5}},
    "gte": {"price": {"$gte": 12.5}},
    "range": {"price": {"$gte": 1, "$lt": 20}},
    "and": {"$and": [{"shop": "b"}, {"price": {"$gt": 13}}]},
    "or": {"$or": [{"shop": "c"}, {"price": {"$lt": 0}}, {"colour": "red"}]},
    "nested": {"$or": [{"$and": [{"shop": "a"}, {"stock": True}]}, {"shop": {"$nin": ["a", "b", "c"]}}]},
    "empty-string": {"shop": ""},
    "big-number": {"price": {"$gt": 1e29}},
}


@pytest.fixture(scope="module")
def fields() -> Fields:
    return Fields.from_json([None if m is None else json.dumps(m) for m in METADATA])


@pytest.mark.parametrize("where", list(WHERES.values()), ids=list(WHERES))
def test_operators_match_the_oracle(where: dict[str, Any], fields: Fields) -> None:
    expected = [oracle(m, where) for m in METADATA]
    assert Where.parse(where).mask(fields).tolist() == expected


def test_fields_extend_as_rows_are_added(fields: Fields) -> None:
    first = Fields.from_json([json.dumps(m) if m else None for m in METADATA[:4]])
    grown = first.extended([json.dumps(m) if m else None for m in METADATA[4:]])
    for where in WHERES.values():
        assert Where.parse(where).mask(grown).tolist() == Where.parse(where).mask(fields).tolist()
    assert first.n == 4  # left as it was


def test_equal_filters_compare_equal_however_written() -> None:
    assert Where.parse({"a": 1, "b": "x"}) == Where.parse({"b": {"$eq": "x"}, "a": {"$eq": 1.0}})
    assert hash(Where.parse({"a": {"$in": ["x", "y"]}})) == hash(Where.parse({"a": {"$in": ["y", "x"]}}))
    assert Where.parse({"a": True}) != Where.parse({"a": 1})
    assert Query(k=3, filter={"a": 1}) == Query(k=3, filter=Where.parse({"a": {"$eq": 1}}))
    assert Query(k=3, filter={}).filter is None


MALFORMED = {
    "not-an-object": (["shop"], "Expected where as an object"),
    "unknown-operator": ({"price": {"$regex": "x"}}, "'$regex'"),
    "unknown-top-operator": ({"$not": [{"a": 1}]}, "unknown operator '$not'"),
    "in-not-a-list": ({"shop": {"$in": "a"}}, "Expected a list for $in of field 'shop'. Received: a string"),
    "nin-not-a-list": ({"shop": {"$nin": 3}}, "Expected a list for $nin"),
    "lt-string": ({"price": {"$lt": "10"}}, "Expected a number for $lt of field 'price'"),
    "gt-bool": ({"price": {"$gt": True}}, "Expected a number for $gt"),
    "null-value": ({"shop": None}, "Received: null"),
    "list-value": ({"shop": ["a"]}, "Received: a list"),
    "nested-in-list": ({"shop": {"$in": [["a"]]}}, "Received: a list"),
    "empty-operators": ({"shop": {}}, "at least one operator for field 'shop'"),
    "or-not-a-list": ({"$or": {"a": 1}}, "Expected where.$or as a non-empty list"),
    "or-empty": ({"$or": []}, "non-empty list"),
    "and-of-non-objects": ({"$and": [1]}, "where.$and[0] as an object"),
    "nan": ({"price": float("nan")}, "finite number"),
    "huge-int": ({"price": 10**400}, "finite number"),
}


@pytest.mark.parametrize(("where", "message"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_filters_name_what_is_wrong(where: Any, message: str) -> None:
    with pytest.raises(FilterError, match="Expected") as caught:
        Where.parse(where)
    assert message in str(caught.value)


def test_nesting_is_bounded() -> None:
    where: dict[str, Any] = {"a": 1}
    for _ in range(40):
        where = {"$and": [where]}
    with pytest.raises(FilterError, match="nested at most"):
        Where.parse(where)


WRONG_FOR_FIELDS = {
    "unknown-field": ({"shoop": "a"}, "Received: 'shoop'"),
    "lt-on-strings": ({"colour": {"$lt": 3}}, "Expected $lt on a field of numbers. Received: field 'colour'"),
    "eq-type": ({"colour": 3}, "Expected a value of the type field 'colour' holds (string) for $eq"),
    "in-type": ({"tags": {"$in": ["x"]}}, "field 'tags' holds (none)"),
}


@pytest.mark.parametrize(("where", "message"), list(WRONG_FOR_FIELDS.values()), ids=list(WRONG_FOR_FIELDS))
def test_fields_and_types_are_checked_against_the_items(where: Any, message: str, fields: Fields) -> None:
    with pytest.raises(FilterError) as caught:
        Where.parse(where).mask(fields)
    assert message in str(caught.value)


# ---- filtered search against brute force ----------------------------------------------------

N, D = 2000, 16
FACTORIES = {"flat": "Flat", "ivf": "IVF16,Flat", "hnsw": "HNSW16"}
EXHAUSTIVE = SearchParams(nprobe=16, ef_search=2048)  # every IVF list, an HNSW walk over all
STRATEGIES = {  # force each way a filtered search can take (simsearch.index.allowed)
    "exact": (1 << 40, 0.2),
    "selector": (0, 1.1),
    "widening": (0, 0.0),
}
SELECTIVITY = {f"{p}pct": {"bucket": {"$lt": p}} for p in (1, 10, 60)}


@pytest.fixture(scope="module")
def catalogue() -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(30, D))
    xb = (centres[rng.integers(0, 30, N)] + 0.4 * rng.normal(size=(N, D))).astype(np.float32)
    ids = np.arange(100, 100 + N, dtype=np.int64)
    meta = [{"bucket": int(b), "shop": "abc"[i % 3]} for i, b in enumerate(rng.permutation(N) % 100)]
    return xb, ids, meta


def brute_force(
    xb: np.ndarray, ids: np.ndarray, allowed_rows: np.ndarray, xq: np.ndarray, k: int, metric: str
) -> tuple[list[list[int]], np.ndarray]:
    xa = xb[allowed_rows]
    if metric == "cosine":
        xa_n = xa / np.linalg.norm(xa, axis=1, keepdims=True)
        xq_n = xq / np.linalg.norm(xq, axis=1, keepdims=True)
        dist = 1 - xq_n @ xa_n.T
    else:
        dist = np.sqrt(((xq[:, None, :] - xa[None]) ** 2).sum(-1))
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return ids[allowed_rows][order].tolist(), np.take_along_axis(dist, order, 1)


def _check_against_brute_force(
    index: FaissIndex, xb: np.ndarray, ids: np.ndarray, meta: list[Any], where: dict[str, Any], k: int
) -> None:
    live = np.isin(ids, index.ids)
    rows = np.flatnonzero(live & np.array([oracle(m, where) for m in meta]))
    xq = xb[::97] + 0.01
    expected_ids, expected_d = brute_force(xb, ids, rows, xq, k, index.metric)
    found = Searcher(index).search(xq, k=k, params=EXHAUSTIVE, where=where)
    got_d = [[h.distance for h in row] for row in found]
    assert [[h.id for h in row] for row in found] == expected_ids
    np.testing.assert_allclose(got_d, expected_d, rtol=1e-4, atol=1e-4)
    assert all(oracle(h.metadata, where) for row in found for h in row)


@pytest.mark.parametrize("strategy", list(STRATEGIES), ids=list(STRATEGIES))
@pytest.mark.parametrize("factory", list(FACTORIES.values()), ids=list(FACTORIES))
def test_filtered_top_k_equals_brute_force(
    catalogue: Any, factory: str, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    xb, ids, meta = catalogue
    budget, selective = STRATEGIES[strategy]
    monkeypatch.setattr("simsearch.index.faiss_index.EXACT_BUDGET", budget)
    monkeypatch.setattr("simsearch.index.faiss_index.SELECTIVE", selective)
    index = FaissIndex(IndexConfig(metric="l2", factory=factory)).build(xb, ids, meta)
    for where in SELECTIVITY.values():
        _check_against_brute_force(index, xb, ids, meta, where, k=10)
    _check_against_brute_force(index, xb, ids, meta, {"$or": [{"shop": "a"}, {"bucket": 3}]}, k=25)


@pytest.mark.parametrize("strategy", list(STRATEGIES), ids=list(STRATEGIES))
@pytest.mark.parametrize("factory", list(FACTORIES.values()), ids=list(FACTORIES))
def test_filtered_top_k_after_deletes_adds_and_upserts(
    catalogue: Any, factory: str, strategy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    xb, ids, meta = catalogue
    budget, selective = STRATEGIES[strategy]
    monkeypatch.setattr("simsearch.index.faiss_index.EXACT_BUDGET", budget)
    monkeypatch.setattr("simsearch.index.faiss_index.SELECTIVE", selective)
    config = IndexConfig(metric="cosine", factory=factory, max_tombstones=0.9)
    index = FaissIndex(config).build(xb[:1500], ids[:1500], meta[:1500])
    where = {"bucket": {"$lt": 10}}
    Searcher(index).search(xb[:2], k=5, params=EXHAUSTIVE, where=where)  # cache the mask
    index.delete(ids[:1500:3])  # many of the allowed nearest gone
    index.add(xb[1500:], ids[1500:], meta[1500:])  # new allowed items
    moved = [{"bucket": 99 - m["bucket"], "shop": m["shop"]} for m in meta[1000:1100]]
    index.upsert(xb[1000:1100], ids[1000:1100], moved)  # items move in and out of the filter
    assert index.n_tombstones > 0
    now = meta[:1000] + moved + meta[1100:]
    _check_against_brute_force(index, xb, ids, now, where, k=10)
    _check_against_brute_force(index, xb, ids, now, {"bucket": {"$in": [0, 98]}}, k=10)


def test_fewer_allowed_than_k_returns_them_all(catalogue: Any) -> None:
    xb, ids, meta = catalogue
    index = FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, ids, meta)
    where = {"$and": [{"bucket": 5}, {"shop": "a"}]}
    count = sum(oracle(m, where) for m in meta)
    assert 0 < count < 20
    hits = Searcher(index).search(xb[:3], k=20, where=where)
    assert [len(row) for row in hits] == [count] * 3
    assert Searcher(index).search(xb[:1], k=5, where={"bucket": 1000}) == [[]]


def test_id_queries_and_range_search_filtered(catalogue: Any) -> None:
    xb, ids, meta = catalogue
    index = FaissIndex(IndexConfig(metric="l2", factory="IVF16,Flat")).build(xb, ids, meta)
    searcher = Searcher(index)
    where = {"shop": {"$ne": "a"}}
    hits = searcher.search_ids([int(ids[1])], k=5, params=EXHAUSTIVE, where=where)  # row 1: shop "b"
    rows = np.array([i for i in range(N) if i != 1 and oracle(meta[i], where)])
    assert [h.id for h in hits[0]] == brute_force(xb, ids, rows, xb[1:2], 5, "l2")[0][0]
    radius = float(np.sort(np.sqrt(((xb - xb[0]) ** 2).sum(1)))[60])
    found = searcher.range_search(xb[:1], radius, params=EXHAUSTIVE, where=where)[0]
    near = np.flatnonzero(np.sqrt(((xb - xb[0]) ** 2).sum(1)) <= radius)
    assert sorted(h.id for h in found) == sorted(ids[r] for r in near if oracle(meta[r], where))


def test_filter_errors_surface_from_search(catalogue: Any) -> None:
    xb, ids, meta = catalogue
    index = FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, ids, meta)
    with pytest.raises(FilterError, match="'shoop'"):
        Searcher(index).search(xb[:1], k=5, where={"shoop": "a"})
    with pytest.raises(FilterError, match="Expected \\$gt on a field of numbers"):
        Searcher(index).search(xb[:1], k=5, where={"shop": {"$gt": 1}})
