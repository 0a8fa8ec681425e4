"""The HTTP API of a real `simsearch serve` process over loopback, with httpx: results against
brute force and the CLI, writes, access, and bad input (4xx, a clear message, an unchanged index)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from simsearch.data.items import Items
from simsearch.index import read_manifest

from .conftest import API_KEY, DIM, Server, hits_ids, png_base64

WRITE = {"X-API-Key": API_KEY}


def brute_force(
    xb: np.ndarray, xq: np.ndarray, ids: np.ndarray, k: int
) -> tuple[list[list[str]], np.ndarray]:
    unit = xb / np.linalg.norm(xb, axis=1, keepdims=True)
    cos = (xq / np.linalg.norm(xq, axis=1, keepdims=True)) @ unit.T
    order = np.argsort(-cos, axis=1, kind="stable")[:, :k]
    return [ids[row].tolist() for row in order], 1 - np.take_along_axis(cos, order, axis=1)


@pytest.fixture(scope="module")
def client(server: Server) -> Any:
    with server.client() as c:
        yield c


def stats(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/stats")
    assert response.status_code == 200
    return dict(response.json())


def test_health_ready_stats_and_openapi(client: httpx.Client, server: Server) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    got = stats(client)
    assert (got["dim"], got["metric"], got["kind"]) == (DIM, "cosine", "IndexFlatIP") and got["count"] >= 60
    assert got["model"]["sha256"] == read_manifest(server.index)["extra"]["model"]["sha256"]
    assert got["model"]["kind"] == "image" and got["writes"] == "api-key"
    assert got["limits"] == {"max_k": 100, "max_batch": 64, "max_body_bytes": 1 << 20}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/compare", "/items", "/items/delete", "/stats", "/health", "/ready"} <= set(paths)


def test_search_by_vectors_ids_and_items_agree_with_brute_force(
    client: httpx.Client, catalog: Items, catalog_vectors: np.ndarray
) -> None:
    expected, distances = brute_force(catalog_vectors, catalog_vectors[:4], catalog.ids, 5)
    by_vectors = client.post("/search", json={"vectors": catalog_vectors[:4].tolist(), "k": 5}).json()
    assert hits_ids(by_vectors) == expected
    got = [[h["distance"] for h in r["hits"]] for r in by_vectors["results"]]
    np.testing.assert_allclose(got, distances, atol=1e-5)
    assert [r["query"] for r in by_vectors["results"]] == [0, 1, 2, 3]
    by_items = client.post("/search", json={"items": [png_base64(im) for im in catalog.images[:4]], "k": 5})
    assert hits_ids(by_items.json()) == expected
    by_ids = client.post("/search", json={"ids": catalog.ids[:4].tolist(), "k": 4}).json()
    assert hits_ids(by_ids) == [row[1:] for row in expected]  # each query's own item left out
    assert [r["query"] for r in by_ids["results"]] == catalog.ids[:4].tolist()


def test_results_have_the_shape_of_the_cli_json(
    client: httpx.Client, built_index: Path, catalog: Items
) -> None:
    from simsearch.cli import cli

    query = str(catalog.ids[7])
    out = CliRunner().invoke(cli, ["query", "--index", str(built_index), "--id", query, "-k", "3", "--json"])
    assert out.exit_code == 0, out.output
    served = client.post("/search", json={"ids": [query], "k": 3}).json()["results"][0]
    assert served == json.loads(out.output)


def test_rerank_and_radius(client: httpx.Client, catalog_vectors: np.ndarray) -> None:
    body = {"vectors": catalog_vectors[:2].tolist(), "k": 5, "rerank": 10}
    for result in client.post("/search", json=body).json()["results"]:
        scores = [h["score"] for h in result["hits"]]
        assert all(s is not None for s in scores) and scores == sorted(scores, reverse=True)
    within = client.post("/search", json={"vectors": catalog_vectors[:1].tolist(), "radius": 0.05}).json()
    distances = [h["distance"] for h in within["results"][0]["hits"]]
    assert distances == sorted(distances) and all(d <= 0.05 for d in distances) and distances[0] < 1e-5


def test_compare_two_items(client: httpx.Client, catalog: Items) -> None:
    same = client.post(
        "/compare", json={"a": png_base64(catalog.images[0]), "b": png_base64(catalog.images[0])}
    )
    assert same.status_code == 200
    body = same.json()
    assert abs(body["distance"]) < 1e-5 and 0 <= body["probability"] <= 1 and body["same"] is True
    assert body["decided_by"] == "distance" and body["threshold"]["distance"] == 0.3


def test_get_items(client: httpx.Client, catalog: Items, catalog_vectors: np.ndarray) -> None:
    ids = catalog.ids[[3, 1]].tolist()
    got = client.get("/items", params={"id": ids, "vectors": True}).json()["items"]
    assert [item["id"] for item in got] == ids
    np.testing.assert_allclose([item["vector"] for item in got], catalog_vectors[[3, 1]], atol=1e-6)
    missing = client.get("/items", params={"id": [ids[0], "nope/1"]})
    assert missing.status_code == 404 and "nope/1" in missing.json()["detail"]


def test_add_upsert_delete(client: httpx.Client, catalog: Items, catalog_vectors: np.ndarray) -> None:
    before = stats(client)["count"]
    vector = (catalog_vectors[0] + 0.01).tolist()
    added = client.post(
        "/items", json={"ids": ["w/1"], "vectors": [vector], "metadata": [{"n": 1}]}, headers=WRITE
    )
    assert added.status_code == 201 and added.json() == {"op": "add", "items": 1, "count": before + 1}
    hits = client.post("/search", json={"vectors": [vector], "k": 1}).json()["results"][0]["hits"]
    assert hits[0]["id"] == "w/1" and hits[0]["metadata"] == {"n": 1}
    again = client.post("/items", json={"ids": ["w/1"], "vectors": [vector]}, headers=WRITE)
    assert again.status_code == 409 and "w/1" in again.json()["detail"]
    raw = client.post(
        "/items", json={"ids": ["w/2"], "items": [png_base64(catalog.images[5])]}, headers=WRITE
    )
    assert raw.status_code == 201
    np.testing.assert_allclose(
        client.get("/items", params={"id": "w/2", "vectors": True}).json()["items"][0]["vector"],
        catalog_vectors[5],
        atol=1e-5,
    )
    upsert = client.put(
        "/items", json={"ids": ["w/1"], "vectors": [catalog_vectors[9].tolist()]}, headers=WRITE
    )
    assert upsert.json()["count"] == before + 2
    kept = client.get("/items", params={"id": "w/1"}).json()["items"][0]
    assert kept["metadata"] == {"n": 1}  # upsert without metadata keeps it
    unknown = client.post("/items/delete", json={"ids": ["w/1", "nope"]}, headers=WRITE)
    assert unknown.status_code == 404 and stats(client)["count"] == before + 2  # all or nothing
    deleted = client.post("/items/delete", json={"ids": ["w/1", "w/2"]}, headers=WRITE)
    assert deleted.json() == {"op": "delete", "items": 2, "count": before}
    assert client.get("/items", params={"id": "w/1"}).status_code == 404


def test_writes_need_the_key(client: httpx.Client) -> None:
    body = {"ids": ["k/1"], "vectors": [[1.0] * DIM]}
    assert client.post("/items", json=body).status_code == 401
    wrong = client.post("/items", json=body, headers={"X-API-Key": "wrong-key-123"})
    assert wrong.status_code == 401 and "wrong key" in wrong.json()["detail"]
    assert client.post("/checkpoint").status_code == 401
    assert client.post("/checkpoint", headers=WRITE).status_code == 200


NAN = '{"vectors": [[NaN' + ", 0" * (DIM - 1) + "]]}"
BAD: list[tuple[str, str, str, Any, dict[str, str], int]] = [
    ("malformed-json", "POST", "/search", '{"vectors": [[1, 2', {}, 422),
    ("not-an-object", "POST", "/search", "[1, 2, 3]", {}, 422),
    ("wrong-type-k", "POST", "/search", {"ids": ["Angelic/character01/00"], "k": "ten"}, {}, 422),
    ("bool-k", "POST", "/search", {"ids": ["Angelic/character01/00"], "k": True}, {}, 422),
    ("k-zero", "POST", "/search", {"ids": ["Angelic/character01/00"], "k": 0}, {}, 422),
    ("k-above-max", "POST", "/search", {"ids": ["Angelic/character01/00"], "k": 101}, {}, 400),
    ("rerank-above-max", "POST", "/search", {"vectors": [[1.0] * DIM], "rerank": 1000}, {}, 400),
    ("wrong-dim", "POST", "/search", {"vectors": [[1.0] * (DIM + 1)]}, {}, 400),
    ("ragged", "POST", "/search", {"vectors": [[1.0] * DIM, [1.0] * 3]}, {}, 400),
    ("nan", "POST", "/search", NAN, {}, 422),
    ("infinity", "POST", "/search", NAN.replace("NaN", "Infinity"), {}, 422),
    ("beyond-float32", "POST", "/search", {"vectors": [[1e39] * DIM]}, {}, 400),
    ("zero-vector", "POST", "/search", {"vectors": [[0.0] * DIM]}, {}, 400),
    ("two-sources", "POST", "/search", {"ids": ["a"], "vectors": [[1.0] * DIM]}, {}, 422),
    ("no-source", "POST", "/search", {"k": 3}, {}, 422),
    ("extra-field", "POST", "/search", {"ids": ["Angelic/character01/00"], "kk": 3}, {}, 422),
    ("unknown-id", "POST", "/search", {"ids": ["nope/0"]}, {}, 404),
    ("batch-too-large", "POST", "/search", {"vectors": [[1.0] * DIM] * 65}, {}, 413),
    ("body-too-large", "POST", "/search", {"ids": ["x" * 1000] * 1100}, {}, 413),
    ("text-plain", "POST", "/search", '{"ids": ["a"]}', {"content-type": "text/plain"}, 415),
    (
        "multipart",
        "POST",
        "/compare",
        "--b\r\n\r\nx\r\n--b--",
        {"content-type": "multipart/form-data; boundary=b"},
        415,
    ),
    ("bad-base64", "POST", "/search", {"items": ["not base64!"]}, {}, 400),
    ("not-an-image", "POST", "/compare", {"a": "aGVsbG8=", "b": "aGVsbG8="}, {}, 400),
    ("record-for-image-model", "POST", "/search", {"items": [{"name": "x"}]}, {}, 400),
    ("lone-surrogate", "POST", "/search", '{"ids": ["\\ud800"]}', {}, 422),
    ("deep-nesting", "POST", "/search", '{"ids": ' + "[" * 100_000 + "]" * 100_000 + "}", {}, 400),
    ("negative-id", "POST", "/search", {"ids": [-1]}, {}, 422),
    # an int id is read as its text in a str-id index (indexes built before integer ids stayed ints)
    ("int-id-for-str-index", "POST", "/search", {"ids": [5]}, {}, 404),
    ("get-no-id", "GET", "/items", None, {}, 422),
    ("add-wrong-dim", "POST", "/items", {"ids": ["b/1"], "vectors": [[1.0] * 3]}, WRITE, 400),
    (
        "add-nan-metadata",
        "POST",
        "/items",
        '{"ids": ["b/1"], "vectors": [[1' + ", 0" * (DIM - 1) + ']], "metadata": [{"x": NaN}]}',
        WRITE,
        422,  # metadata is held to simsearch.validation's limits with the schema, as NaN elsewhere
    ),
    (
        "add-existing",
        "POST",
        "/items",
        {"ids": ["Angelic/character01/00"], "vectors": [[1.0] * DIM]},
        WRITE,
        409,
    ),
    ("add-ids-mismatch", "POST", "/items", {"ids": ["b/1", "b/2"], "vectors": [[1.0] * DIM]}, WRITE, 422),
    (
        "add-duplicate-ids",
        "POST",
        "/items",
        {"ids": ["b/1", "b/1"], "vectors": [[1.0] * DIM] * 2},
        WRITE,
        400,
    ),
    ("upsert-zero-vector", "PUT", "/items", {"ids": ["b/1"], "vectors": [[0.0] * DIM]}, WRITE, 400),
    ("delete-unknown", "POST", "/items/delete", {"ids": ["nope/0"]}, WRITE, 404),
    ("delete-empty", "POST", "/items/delete", {"ids": []}, WRITE, 422),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"), [case[1:] for case in BAD], ids=[case[0] for case in BAD]
)
def test_bad_input_gets_a_4xx_and_changes_nothing(
    client: httpx.Client, method: str, path: str, body: Any, headers: dict[str, str], status: int
) -> None:
    before = stats(client)
    content = body if isinstance(body, str) or body is None else json.dumps(body)
    sent = {"content-type": "application/json", **headers} if content is not None else headers
    response = client.request(method, path, content=content, headers=sent)
    assert response.status_code == status, response.text
    assert "Expected" in response.json()["detail"] or status == 422
    after = stats(client)
    assert (after["count"], after["journal"]) == (before["count"], before["journal"])


def test_queries_keep_working_while_writes_happen(
    client: httpx.Client, server: Server, catalog_vectors: np.ndarray
) -> None:
    before = stats(client)["count"]
    errors: list[str] = []
    done = threading.Event()

    def read() -> None:
        with server.client() as reader:
            while not done.is_set():
                response = reader.post("/search", json={"vectors": catalog_vectors[:3].tolist(), "k": 5})
                if response.status_code != 200 or len(response.json()["results"]) != 3:
                    errors.append(response.text)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    with server.client(**WRITE) as writer:
        for i in range(40):
            assert (
                writer.post(
                    "/items", json={"ids": [f"c/{i}"], "vectors": [catalog_vectors[i % 60].tolist()]}
                ).status_code
                == 201
            )
            if i % 2:
                assert writer.post("/items/delete", json={"ids": [f"c/{i - 1}"]}).status_code == 200
    done.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert stats(client)["count"] == before + 20
