"""The record rule and the id type over HTTP, against a real server over a record model with
integer catalogue ids: the same answers as the CLI and `SearchEngine`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import RecordIndex
from tests.server.conftest import Server, hits_ids


@pytest.fixture(scope="module")
def client(record_index: RecordIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    root = tmp_path_factory.mktemp("served-records")
    index = Path(shutil.copytree(record_index.index_dir, root / "index"))
    server = Server(index, log=root / "server.log").start()
    with server.client() as client:
        yield client
    server.stop()


def test_a_misspelt_field_is_a_400_naming_the_models_fields(client: httpx.Client) -> None:
    response = client.post("/search", json={"items": [{"nmae": "sony tv"}], "k": 2})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "['name', 'price'] (the model's" in detail and "unknown: ['nmae']" in detail


def test_search_and_compare_take_partial_records(client: httpx.Client) -> None:
    response = client.post("/search", json={"items": [{"name": "sony tv"}], "k": 2})
    assert response.status_code == 200, response.text
    response = client.post("/compare", json={"a": {"name": "sony tv"}, "b": {"price": 399}})
    assert response.status_code == 200, response.text
    response = client.post("/compare", json={"a": {"name": "sony tv"}, "b": {"title": "x"}})
    assert response.status_code == 400 and "unknown: ['title']" in response.json()["detail"]


def test_integer_ids_in_and_out(client: httpx.Client) -> None:
    response = client.post("/search", json={"ids": [0], "k": 3})
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["results"][0]["query"] == 0
    ids = hits_ids(payload)[0]
    assert len(ids) == 3 and 0 not in ids and all(isinstance(i, int) for i in ids)
    radius = client.post("/search", json={"ids": [0], "radius": 2.5}).json()
    assert 0 not in hits_ids(radius)[0] and len(hits_ids(radius)[0]) == 7
    items = client.get("/items", params={"id": "3"}).json()["items"]
    assert items[0]["id"] == 3
