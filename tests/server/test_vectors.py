"""`simsearch serve` over an index of the user's own vectors (no model): search by vectors and
ids against numpy brute force, add/upsert by vectors with metadata, and a 400 naming the missing
model for anything that needs one."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from simsearch.engine import build_vector_index
from tests.index.oracle import brute_force

from .conftest import API_KEY, SERVE_OPTIONS, Server, hits_ids

N, DIM, K = 150, 6, 4


@pytest.fixture(scope="module")
def xb() -> np.ndarray:
    return np.random.default_rng(7).normal(size=(N, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def served(xb: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("own-vectors")
    metadata = [{"colour": ["red", "blue"][i % 2]} for i in range(N)]
    build_vector_index(xb, list(range(100, 100 + N)), root / "index", metadata=metadata, metric="l2")
    running = Server(root / "index", *SERVE_OPTIONS, log=root / "server.log").start()
    yield running
    assert running.stop() in (0, -signal.SIGTERM)
    assert "Traceback" not in running.log.read_text(errors="replace")


@pytest.fixture
def client(served: Server) -> Iterator[httpx.Client]:
    with served.client(**{"X-API-Key": API_KEY}) as c:
        yield c


def _nearest(xb: np.ndarray, xq: np.ndarray, k: int, skip: int = 0) -> list[list[int]]:
    order = np.argsort(brute_force(xb, xq, "l2"), axis=1, kind="stable")[:, skip : skip + k]
    return (order + 100).tolist()


def test_stats_say_there_is_no_model(client: httpx.Client) -> None:
    stats = client.get("/stats").json()
    assert stats["model"] == {} and stats["rerank_default"] == 0 and stats["metric"] == "l2"
    assert stats["search_params"] == {"nprobe": 32, "ef_search": 128} and stats["tuning"] is None


def test_search_by_vectors_and_ids_agrees_with_brute_force(client: httpx.Client, xb: np.ndarray) -> None:
    xq = xb[:3] + 0.05
    answer = client.post("/search", json={"vectors": xq.tolist(), "k": K})
    assert answer.status_code == 200, answer.text
    assert hits_ids(answer.json()) == _nearest(xb, xq, K)
    answer = client.post("/search", json={"ids": [100, "101"], "k": K})
    assert hits_ids(answer.json()) == _nearest(xb, xb[:2], K, skip=1)  # each id's own item left out
    assert answer.json()["results"][0]["hits"][0]["metadata"]["colour"] in ("red", "blue")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/search", {"items": ["a text"], "k": 2}),
        ("POST", "/compare", {"a": "x", "b": "y"}),
        ("POST", "/items", {"ids": [9999], "items": ["a text"]}),
        ("POST", "/search", {"ids": [100], "k": 2, "rerank": 5}),
    ],
    ids=["search-items", "compare", "add-items", "rerank"],
)
def test_what_needs_a_model_is_a_400_naming_it(
    client: httpx.Client, method: str, path: str, body: dict[str, object]
) -> None:
    answer = client.request(method, path, json=body)
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("Expected") and ("without a model" in detail or "pairwise head" in detail)
    assert client.get("/stats").json()["count"] >= N  # nothing was added


def test_add_and_upsert_vectors_with_metadata(client: httpx.Client, xb: np.ndarray) -> None:
    before = client.get("/stats").json()["count"]
    far = np.full((1, DIM), 50.0)
    answer = client.post(
        "/items", json={"ids": [5000], "vectors": far.tolist(), "metadata": [{"colour": "green"}]}
    )
    assert answer.status_code == 201 and answer.json()["count"] == before + 1, answer.text
    found = client.post("/search", json={"vectors": (far + 0.1).tolist(), "k": 1}).json()["results"][0][
        "hits"
    ][0]
    assert found["id"] == 5000 and found["metadata"] == {"colour": "green"}
    moved = (xb[5] + 0.001)[None]
    answer = client.put(
        "/items", json={"ids": [5000], "vectors": moved.tolist(), "metadata": [{"colour": "teal"}]}
    )
    assert answer.status_code == 200 and answer.json()["count"] == before + 1, answer.text
    items = client.get("/items", params={"id": "5000", "vectors": "true"}).json()["items"]
    assert items[0]["metadata"] == {"colour": "teal"}
    np.testing.assert_allclose(items[0]["vector"], moved[0], rtol=1e-6)
    hits = hits_ids(client.post("/search", json={"ids": [105], "k": 1}).json())
    assert hits == [[5000]]
    answer = client.post("/items", json={"ids": [5001], "vectors": [[1.0] * (DIM + 1)]})
    assert answer.status_code == 400 and "Expected" in json.loads(answer.text)["detail"]
