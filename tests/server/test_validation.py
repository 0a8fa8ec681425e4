"""Validate before acknowledging, over HTTP: a real server over a record model with integer ids
(default body limit, 16 MiB) refuses what could not be read back or searched (lone surrogates,
metadata nested too deep or too large, texts over the limit, ids beyond int64, a radius beyond
float32) with a 4xx naming the limit, and leaves its index directory byte for byte as it was."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simsearch.validation import MAX_DEPTH, MAX_METADATA_BYTES, MAX_TEXT_CHARS
from tests.conftest import RecordIndex
from tests.server.conftest import API_KEY, Server

HUGE_ID = "99999999999999999999999"


@pytest.fixture(scope="module")
def served(record_index: RecordIndex, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("served-validation")
    index = Path(shutil.copytree(record_index.index_dir, root / "index"))
    server = Server(index, "--api-key", API_KEY, log=root / "server.log").start()
    yield server
    server.stop()
    assert "Traceback" not in server.log.read_text(errors="replace")


@pytest.fixture()
def client(served: Server) -> Iterator[httpx.Client]:
    with served.client(**{"X-API-Key": API_KEY}) as client:
        yield client


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (the journal included)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def raw_post(client: httpx.Client, path: str, body: str, method: str = "POST") -> httpx.Response:
    """Send `body` as it is: json= would refuse a lone surrogate before it leaves."""
    return client.request(method, path, content=body.encode(), headers={"content-type": "application/json"})


BAD_WRITES = [
    pytest.param(
        '{"ids": [100], "items": [{"name": "x"}], "metadata": [{"k": "\\ud800"}]}',
        "lone surrogate",
        id="surrogate-in-metadata",
    ),
    # pydantic refuses these before our checks: "unable to parse raw data as a unicode string"
    pytest.param('{"ids": [100], "items": [{"name": "\\udfff"}]}', "unicode", id="surrogate-in-field"),
    pytest.param(
        '{"ids": [100], "items": [{"name": "x"}], "metadata": [{"\\ud800": 1}]}',
        "unicode",
        id="surrogate-in-key",
    ),
    pytest.param(
        '{"ids": [100], "items": [{"name": "x"}], "metadata": [' + '{"a": ' * 900 + "{}" + "}" * 900 + "]}",
        "",
        id="metadata-900-deep",
    ),
    pytest.param(
        '{"ids": [100], "items": [{"name": "x"}], "metadata": ['
        + '{"a": ' * (MAX_DEPTH + 1)
        + "1"
        + "}" * (MAX_DEPTH + 1)
        + "]}",
        f"at most {MAX_DEPTH} deep",
        id="metadata-one-too-deep",
    ),
    pytest.param(
        '{"ids": [100], "items": [{"name": "' + "x" * 10_000_000 + '"}]}',
        f"at most {MAX_TEXT_CHARS} characters",
        id="10MB-field",
    ),
    pytest.param(
        '{"ids": [100], "items": [{"name": "x"}], "metadata": [{"note": "'
        + "x" * (MAX_TEXT_CHARS + 1)
        + '"}]}',
        f"{MAX_TEXT_CHARS}",
        id="long-metadata-text",
    ),
    pytest.param(
        '{"ids": [100], "items": [{"name": "x"}], "metadata": [{"n": ['
        + ",".join(['"' + "x" * 1000 + '"'] * 1100)
        + "]}]}",
        f"at most {MAX_METADATA_BYTES} bytes",
        id="metadata-over-1MB",
    ),
    pytest.param(
        '{"ids": [100], "items": [{"name": "x"}], "metadata": [{"n": 100000000000000000000}]}',
        "int64",
        id="metadata-int-beyond-int64",
    ),
    pytest.param(
        '{"ids": [9223372036854775808], "items": [{"name": "x"}]}',
        "9223372036854775807",
        id="id-beyond-int64",
    ),
    pytest.param(
        '{"ids": ["' + HUGE_ID + '"], "items": [{"name": "x"}]}', "int64", id="text-id-beyond-int64"
    ),
]


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize(("body", "message"), BAD_WRITES)
def test_a_write_that_could_not_be_read_back_is_refused(
    client: httpx.Client, served: Server, body: str, message: str, method: str
) -> None:
    before = digest(served.index)
    response = raw_post(client, "/items", body, method)
    assert response.status_code in (400, 422), response.text[:500]
    detail = response.json()["detail"]
    assert detail.startswith("Expected") and message in detail, detail[:500]
    assert digest(served.index) == before
    assert client.get("/items", params={"id": "100"}).status_code == 404


def test_what_is_accepted_reads_back_and_searches(client: httpx.Client, served: Server) -> None:
    metadata = {"note": "é" * 1000, "deep": nested(MAX_DEPTH - 1), "n": 2**63 - 1}
    response = client.put(
        "/items", json={"ids": [200], "items": [{"name": "sony tv"}], "metadata": [metadata]}
    )
    assert response.status_code == 200, response.text
    got = client.get("/items", params={"id": "200"})
    assert got.status_code == 200 and got.json()["items"][0]["metadata"] == metadata
    hits = client.post("/search", json={"ids": [200], "k": 8})
    assert hits.status_code == 200
    assert client.post("/search", json={"items": [{"name": "sony tv"}], "k": 8}).status_code == 200


@pytest.mark.parametrize(
    ("request_", "status", "message"),
    [
        pytest.param(("POST", "/search", {"ids": [0], "radius": 1e308}), 422, "radius", id="radius-1e308"),
        pytest.param(("POST", "/search", {"ids": [0], "radius": 1e39}), 422, "radius", id="radius-1e39"),
        pytest.param(
            ("POST", "/search", {"items": [{"name": "x"}], "radius": 1e39}), 422, "radius", id="radius-items"
        ),
        pytest.param(("POST", "/search", {"ids": [HUGE_ID]}), 400, "int64", id="search-text-id"),
        pytest.param(("POST", "/search", {"ids": [10**30]}), 422, "ids", id="search-int-id"),
        pytest.param(("GET", f"/items?id={HUGE_ID}", None), 400, "int64", id="get-id"),
        pytest.param(("GET", "/items?id=" + "9" * 5000, None), 400, "int64", id="get-5000-digits"),
        pytest.param(("POST", "/items/delete", {"ids": [HUGE_ID]}), 400, "int64", id="delete-id"),
        pytest.param(
            ("POST", "/compare", {"a": {"name": "x" * (MAX_TEXT_CHARS + 1)}, "b": {"name": "y"}}),
            422,
            f"{MAX_TEXT_CHARS}",
            id="compare-long-text",
        ),
    ],
)
def test_bad_queries_get_a_4xx_naming_the_limit(
    client: httpx.Client, served: Server, request_: tuple[str, str, Any], status: int, message: str
) -> None:
    before = digest(served.index)
    method, path, body = request_
    response = client.request(method, path, json=body)
    assert response.status_code == status, response.text[:500]
    assert message in response.json()["detail"]
    assert digest(served.index) == before


def test_a_text_item_is_held_to_the_text_limit() -> None:
    from simsearch.errors import DataError
    from simsearch.server.items import decode_items

    assert decode_items(["x" * MAX_TEXT_CHARS], "text", {}) == ["x" * MAX_TEXT_CHARS]
    with pytest.raises(DataError, match=f"at most {MAX_TEXT_CHARS} characters in item 0"):
        decode_items(["x" * (MAX_TEXT_CHARS + 1)], "text", {})
