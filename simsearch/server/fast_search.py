"""`FastSearch`: `POST /search` by vectors answered at once, in front of the FastAPI app.

A search by vectors of a served index costs tens of microseconds in FAISS; FastAPI's way to it
(its middleware, routing, dependency solving, the thread pool, the micro-batcher, a generic JSON
encoder) cost several times that. `simsearch serve` runs the app behind this ASGI wrapper, which
takes `POST /search` first: a JSON body within the server's `max_body_bytes` (declared by its
Content-Length) that is a plain k-NN search by vectors (no radius, no re-ranking) whose cost the
service knows to be small (`IndexService.search_now`) is validated against the same
`SearchRequest` schema, searched on the event loop under the same read lock, and answered with
JSON written from the hits (the items' metadata is the index's own JSON text, spliced in).
Everything else goes on to the app as it came, with its body: other requests and searches, a body
that fails the schema or a check, a search that would take long or that a write holds up. Errors
are therefore the app's answers, as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from simsearch.index import SearchParams
from simsearch.search.hits import Hit
from simsearch.search.query import Query as SearchQuery
from simsearch.server.limits import is_json, replay_body
from simsearch.server.schemas import SearchRequest
from simsearch.server.service import IndexService

__all__ = ["FastSearch", "request_query", "results_json"]

logger = logging.getLogger(__name__)

_HEADERS = [(b"content-type", b"application/json")]
_SEARCH_PATH = "/search"
_encode_str = json.encoder.encode_basestring  # as json.dumps(ensure_ascii=False) writes text


class FastSearch:
    """Answer cheap `POST /search` by vectors here; pass every other request to `app`.

    Args:
        app: the ASGI app behind (`create_app`'s), which answers everything else.
        service: the served index.

    Example:
    >>> uvicorn.run(FastSearch(create_app(service), service), host="127.0.0.1", port=8000)
    """

    def __init__(self, app: ASGIApp, service: IndexService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != _SEARCH_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if not self._within_limits(scope["headers"]):
            await self.app(scope, receive, send)  # the app's BodyLimit answers it
            return
        body = await _read_body(receive)
        answer = self._answer(body)
        if answer is None:
            await self.app(scope, replay_body(body, receive), send)
            return
        headers = [*_HEADERS, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    def _within_limits(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """A JSON body whose declared length is within the server's limit (as `BodyLimit` asks)."""
        length = media = None
        for name, value in headers:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                media = value
        return (
            length is not None
            and length.isdigit()
            and int(length) <= self.service.config.max_body_bytes
            and media is not None
            and is_json(media)
        )

    def _answer(self, body: bytes) -> bytes | None:
        """The response body, or None to let FastAPI answer."""
        try:
            request = SearchRequest.model_validate_json(body)
        except ValidationError:
            return None
        vectors = request.vectors
        if vectors is None or len(vectors) > self.service.config.max_batch:
            return None
        try:
            rows = self.service.search_now(request_query(request, self.service), vectors)
        except Exception:  # FastAPI's route answers it, as it always has
            return None
        return None if rows is None else results_json(range(len(vectors)), rows)


def results_json(labels: Sequence[Any], rows: list[list[Hit]]) -> bytes:
    """`{"results": [{"query", "hits"}]}` as `POST /search` answers it, written directly: ids and
    floats as `json.dumps` writes them, each item's metadata as the index's stored JSON text."""
    parts = []
    for label, row in zip(labels, rows, strict=True):
        hits = ",".join(
            f'{{"id":{_encode_str(hit.id) if hit.id.__class__ is str else _json_id(hit.id)},'
            f'"distance":{hit.distance!r},"score":{"null" if hit.score is None else repr(hit.score)},'
            f'"metadata":{hit.metadata_json}}}'
            for hit in row
        )
        parts.append(f'{{"query":{_json_id(label)},"hits":[{hits}]}}')
    return f'{{"results":[{",".join(parts)}]}}'.encode()


def _json_id(value: Any) -> str:
    return _encode_str(value) if isinstance(value, str) else str(int(value))


def request_query(request: SearchRequest, service: IndexService) -> SearchQuery:
    """The `Query` of a `POST /search` body, with the engine's defaults."""
    names = ("nprobe", "ef_search")
    given = {name: getattr(request, name) for name in names if getattr(request, name) is not None}
    return service.engine.make_query(
        k=request.k,
        rerank=request.rerank,
        radius=request.radius,
        params=SearchParams(**given) if given else None,
        by_vectors=request.vectors is not None,
        where=request.where,
    )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
