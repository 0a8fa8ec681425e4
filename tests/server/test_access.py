"""A server started without an API key and without --allow-writes is read-only; the same server
with batching off answers as brute force does (the batched server is checked in test_api)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from simsearch.data.items import Items

from .conftest import DIM, Server, copy_index, hits_ids
from .test_api import brute_force


@pytest.fixture(scope="module")
def read_only(built_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("read-only")
    running = Server(
        copy_index(built_index, root / "index"), "--no-batching", log=root / "server.log"
    ).start()
    yield running
    running.stop()


def test_writes_are_refused_without_a_key_or_allow_writes(read_only: Server) -> None:
    with read_only.client(**{"X-API-Key": "anything-at-all"}) as client:
        for method, path, body in [
            ("POST", "/items", {"ids": ["x"], "vectors": [[1.0] * DIM]}),
            ("PUT", "/items", {"ids": ["x"], "vectors": [[1.0] * DIM]}),
            ("POST", "/items/delete", {"ids": ["Angelic/character01/00"]}),
            ("POST", "/checkpoint", None),
        ]:
            response = client.request(method, path, json=body)
            assert response.status_code == 403 and "--allow-writes" in response.json()["detail"]
        got = client.get("/stats").json()
        assert (got["count"], got["writes"], got["journal"], got["batching"]) == (60, "disabled", None, False)
    assert not (read_only.index / "journal.wal").exists()


def test_unbatched_search_agrees_with_brute_force(
    read_only: Server, catalog: Items, catalog_vectors: np.ndarray
) -> None:
    expected, _ = brute_force(catalog_vectors, catalog_vectors[10:13], catalog.ids, 6)
    with read_only.client() as client:
        got = client.post("/search", json={"vectors": catalog_vectors[10:13].tolist(), "k": 6}).json()
    assert hits_ids(got) == expected
