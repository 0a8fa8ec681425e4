"""`where` in POST /search on a real server: filtered hits against brute force over the items
whose metadata pass, and the 4xx of filters that are malformed or that the items' fields refuse."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from .conftest import API_KEY, DIM, Server, hits_ids

WRITE = {"X-API-Key": API_KEY}
N = 30


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def shop(client: httpx.Client) -> Iterator[tuple[list[str], np.ndarray, list[dict[str, Any]]]]:
    """30 items with metadata (shop, price, sale) added to the shared server, deleted after."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    ids = [f"f/{i}" for i in range(N)]
    metadata = [{"shop": "abc"[i % 3], "price": i, "sale": i % 4 == 0} for i in range(N)]
    added = client.post(
        "/items", json={"ids": ids, "vectors": vectors.tolist(), "metadata": metadata}, headers=WRITE
    )
    assert added.status_code == 201, added.text
    yield ids, vectors, metadata
    assert client.post("/items/delete", json={"ids": ids}, headers=WRITE).status_code == 200


def brute_force(xb: np.ndarray, ids: list[str], keep: list[bool], xq: np.ndarray, k: int) -> list[list[str]]:
    rows = np.flatnonzero(keep)
    unit = xb[rows] / np.linalg.norm(xb[rows], axis=1, keepdims=True)
    cos = (xq / np.linalg.norm(xq, axis=1, keepdims=True)) @ unit.T
    order = np.argsort(-cos, axis=1, kind="stable")[:, :k]
    return [[ids[rows[j]] for j in row] for row in order]


CASES = {
    "equality": ({"shop": "b"}, lambda m: m["shop"] == "b"),
    "several-fields": ({"shop": "a", "sale": True}, lambda m: m["shop"] == "a" and m["sale"]),
    "range-and-in": (
        {"price": {"$gte": 5, "$lt": 20}, "shop": {"$in": ["a", "c"]}},
        lambda m: 5 <= m["price"] < 20 and m["shop"] in ("a", "c"),
    ),
    "or-nin": (  # $nin also passes items without the field: the catalogue's, without price
        {"$or": [{"price": {"$gt": 25}}, {"shop": {"$nin": ["a", "b"]}, "price": {"$lt": 20}}]},
        lambda m: m["price"] > 25 or (m["shop"] not in ("a", "b") and m["price"] < 20),
    ),
}


@pytest.mark.parametrize(("where", "passes"), list(CASES.values()), ids=list(CASES))
def test_where_returns_the_filtered_top_k(client: httpx.Client, shop: Any, where: Any, passes: Any) -> None:
    ids, vectors, metadata = shop
    xq = vectors[:3] + 0.1
    response = client.post("/search", json={"vectors": xq.tolist(), "k": 4, "where": where})
    assert response.status_code == 200, response.text
    assert hits_ids(response.json()) == brute_force(vectors, ids, [passes(m) for m in metadata], xq, 4)
    assert all(passes(hit["metadata"]) for row in response.json()["results"] for hit in row["hits"])


def test_where_with_id_queries_and_radius(client: httpx.Client, shop: Any) -> None:
    ids, vectors, metadata = shop
    by_id = client.post("/search", json={"ids": ["f/1"], "k": 3, "where": {"shop": "a"}})
    keep = [m["shop"] == "a" and i != "f/1" for i, m in zip(ids, metadata, strict=True)]
    assert hits_ids(by_id.json()) == brute_force(vectors, ids, keep, vectors[1:2], 3)
    xq = [vectors[0].tolist()]
    wide = client.post("/search", json={"vectors": xq, "radius": 2.0, "where": {"price": 7}})
    assert hits_ids(wide.json()) == [["f/7"]]
    empty = client.post("/search", json={"vectors": xq, "where": {"price": 1000}})
    assert empty.status_code == 200 and hits_ids(empty.json()) == [[]]


BAD = {
    "unknown-field": ({"shoop": "a"}, "Received: 'shoop'"),
    "lt-on-strings": ({"shop": {"$lt": 3}}, "Expected $lt on a field of numbers. Received: field 'shop'"),
    "wrong-type": ({"price": "7"}, "Expected a value of the type field 'price' holds (number)"),
    "in-not-a-list": ({"shop": {"$in": "a"}}, "Expected a list for $in of field 'shop'"),
    "unknown-operator": ({"shop": {"$regex": "a"}}, "'$regex'"),
    "lt-a-string": ({"price": {"$lt": "7"}}, "Expected a number for $lt of field 'price'"),
    "not-an-object": (["shop"], "where"),
}


@pytest.mark.parametrize(("where", "message"), list(BAD.values()), ids=list(BAD))
def test_bad_where_is_a_422_naming_it(client: httpx.Client, shop: Any, where: Any, message: str) -> None:
    response = client.post("/search", json={"vectors": [shop[1][0].tolist()], "where": where})
    assert response.status_code == 422, response.text
    body = response.json()
    assert message in body["detail"] and body["errors"] and "where" in body["errors"][0]["loc"]


def test_openapi_documents_where(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["SearchRequest"]
    where = schema["properties"]["where"]["anyOf"][0]
    assert where["title"] == "Where" and {"$and", "$or"} <= set(where["properties"])
    operators = where["additionalProperties"]["anyOf"][1]["properties"]
    assert set(operators) == {"$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte"}
