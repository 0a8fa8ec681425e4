"""`POST /search` by vectors on the fast path (`FastSearch`, `IndexService.search_now`): the same
answers as the app's route, the same errors, the same read lock, and only for searches known cheap."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import simsearch.server.service as service_module
from simsearch.engine import SearchEngine
from simsearch.errors import DataError
from simsearch.search.hits import Hit
from simsearch.server import IndexService, ServerConfig
from simsearch.server.fast_search import results_json
from tests.server.conftest import Server, copy_index, hits_ids


@pytest.fixture(scope="module")
def service(built_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexService]:
    index = copy_index(built_index, tmp_path_factory.mktemp("fast") / "index")
    started = IndexService(SearchEngine.load(index), ServerConfig(batching=False)).start()
    yield started
    started.close()


def _brute_force(xb: np.ndarray, xq: np.ndarray, k: int) -> list[int]:
    unit = xb / np.linalg.norm(xb, axis=1, keepdims=True)
    return np.argsort(-(unit @ (xq / np.linalg.norm(xq))), kind="stable")[:k].tolist()


def test_results_json_is_what_json_dumps_writes() -> None:
    rows = [
        [Hit.stored("sku-ü", 0.125, '{"title": "tv \\u00fc", "n": [1, 2]}'), Hit.stored("b", 1e-05, None)],
        [Hit(7, 0.5, 0.875, {"x": None})],
        [],
    ]
    written = json.loads(results_json(range(3), rows))
    expected = {"results": [{"query": q, "hits": [h.to_dict() for h in row]} for q, row in enumerate(rows)]}
    assert written == expected


def test_search_now_waits_to_know_the_cost_then_answers_as_search(
    service: IndexService, catalog_vectors: np.ndarray
) -> None:
    query = service.engine.make_query(k=5, rerank=0, radius=0.5, by_vectors=True)
    assert service.search_now(query, catalog_vectors[:1]) is None  # a range search: never here
    query = service.engine.make_query(k=5, rerank=0, by_vectors=True)
    service._row_cost.clear()
    assert service.search_now(query, catalog_vectors[:2]) is None  # cost not known yet
    expected = service.search(query, vectors=catalog_vectors[:2])
    got = service.search_now(query, catalog_vectors[:2].tolist())
    assert got == expected
    nearest = _brute_force(catalog_vectors, catalog_vectors[0], 5)
    assert [h.id for h in got[0]] == [service.engine.index.ids[i] for i in nearest]


def test_search_now_refuses_what_costs_more_than_the_budget(
    service: IndexService, catalog_vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = service.engine.make_query(k=3, rerank=0, by_vectors=True)
    service.search(query, vectors=catalog_vectors[:1])
    assert service.search_now(query, catalog_vectors[:1]) is not None
    monkeypatch.setattr(service_module, "DIRECT_BUDGET_S", 0.0)
    assert service.search_now(query, catalog_vectors[:1]) is None


def test_search_now_never_waits_for_a_write(service: IndexService, catalog_vectors: np.ndarray) -> None:
    query = service.engine.make_query(k=3, rerank=0, by_vectors=True)
    service.search(query, vectors=catalog_vectors[:1])
    with service.lock.write():
        assert service.search_now(query, catalog_vectors[:1]) is None
    reading, waiting = threading.Event(), threading.Event()

    def writer() -> None:
        reading.wait()
        with service.lock.write():
            pass

    with service.lock.read():  # a writer queues behind this reader: new readers wait for it
        thread = threading.Thread(target=writer)
        thread.start()
        reading.set()
        while not service.lock._waiting_writers and thread.is_alive():
            waiting.wait(0.001)
        assert service.search_now(query, catalog_vectors[:1]) is None
    thread.join()
    assert service.search_now(query, catalog_vectors[:1]) is not None


def test_search_now_refuses_bad_vectors(service: IndexService, catalog_vectors: np.ndarray) -> None:
    query = service.engine.make_query(k=3, rerank=0, by_vectors=True)
    service.search(query, vectors=catalog_vectors[:1])
    with pytest.raises(DataError, match="shape"):
        service.search_now(query, [[1.0, 2.0]])
    with pytest.raises(DataError, match="finite"):
        service.search_now(query, [[float("nan")] * catalog_vectors.shape[1]])
    with pytest.raises(DataError):
        service.search_now(query, [[0.0] * catalog_vectors.shape[1]])  # no direction for cosine


def test_the_served_fast_path_answers_as_the_route(server: Server, catalog_vectors: np.ndarray) -> None:
    """Once the cost is known, searches by vector take the fast path: the same hits (brute force),
    the same shape, and bad requests still get the route's answers."""
    with server.client() as client:
        # nprobe (which a Flat index ignores) makes a Query no other test asked for: its cost is
        # not known yet, so the first goes through the route
        body = {"vectors": catalog_vectors[:3].tolist(), "k": 4, "nprobe": 7}
        first = client.post("/search", json=body)  # the route: learns the cost
        again = client.post("/search", json=body)  # the fast path
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json()
        xb = catalog_vectors
        assert len(hits_ids(again.json())) == 3 and all(len(row) == 4 for row in hits_ids(again.json()))
        assert [r["query"] for r in again.json()["results"]] == [0, 1, 2]
        cases = {
            400: {"vectors": [[1.0, 2.0]], "k": 4},  # wrong width
            422: {"vectors": catalog_vectors[:1].tolist(), "k": 0},
            413: {"vectors": [catalog_vectors[0].tolist()] * 65, "k": 4},  # over --max-batch 64
        }
        for status, bad in cases.items():
            response = client.post("/search", json=bad)
            assert response.status_code == status, response.text
            assert response.json()["detail"].startswith("Expected")
        json_type = {"content-type": "application/json"}
        nan = json.dumps({"vectors": [[float("nan")] * xb.shape[1]], "k": 4, "nprobe": 7})
        assert client.post("/search", content=nan, headers=json_type).status_code == 422
        text = client.post("/search", content=json.dumps(body), headers={"content-type": "text/plain"})
        assert text.status_code == 415
        padded = {**body, "pad": "x" * (1 << 20)}  # over --max-body-bytes
        assert client.post("/search", json=padded).status_code == 413
        assert httpx.get(f"{server.url}/health").status_code == 200
