"""The HTTP API: a FastAPI app over one `IndexService`.

    GET  /                redirect to /docs (Swagger UI, served with its assets: works offline)
    GET  /health          liveness
    GET  /ready           readiness (503 after a journal failure)
    GET  /stats           item count, index kind, dim, metric, model, journal, limits
    POST /search          k-NN or range search by raw items, vectors or ids, in batches
    POST /compare         two raw items: distance, head probability, decision
    POST /identify        photos -> enrolled person or "unknown" (face indexes, `simsearch enrol`)
    GET  /items?id=..     stored metadata (and vectors) by id
    POST /items           add items (raw or vectors)                       write
    PUT  /items           upsert items                                     write
    POST /items/delete    delete items by id                               write
    POST /checkpoint      save the index now, empty the journal            write
    /review ...           with `serve --review PAIRS`: the review and labelling page, duplicate
                          groups, images, retraining (review.py, groups.py, images.py, retrain.py)

Write endpoints need `X-API-Key` when the server has a key, and are refused (403) when it has
none unless it was started with `--allow-writes`; the review's writes need the key too
(`access.py`). Errors are `{"detail": "Expected .... Received:
..."}` with 400 (bad input), 401/403 (access), 404 (unknown ids), 409 (ids already present),
413 (body or batch too large), 415 (not JSON), 422 (not the schema), 503 (not writable).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from starlette.exceptions import HTTPException as StarletteHTTPException

import simsearch
from simsearch.errors import (
    BusyError,
    DuplicateIdError,
    FilterError,
    IndexFileError,
    NotBuiltError,
    SimsearchError,
    UnknownIdError,
)
from simsearch.search.query import Query as SearchQuery
from simsearch.server.access import API_KEY, check_key
from simsearch.server.docs import add_docs
from simsearch.server.fast_search import request_query
from simsearch.server.items import decode_items
from simsearch.server.limits import BodyLimit
from simsearch.server.review import ReviewQueue, routers
from simsearch.server.schemas import (
    AddRequest,
    CompareRequest,
    CompareResponse,
    DeleteRequest,
    ErrorBody,
    IdentifyRequest,
    IdentifyResponse,
    ItemsResponse,
    SearchRequest,
    SearchResponse,
    StatsResponse,
    ValidationErrorBody,
    WriteResponse,
)
from simsearch.server.service import IndexService
from simsearch.tower_kinds import tower_kind

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[SimsearchError], int], ...] = (
    (UnknownIdError, 404),
    (DuplicateIdError, 409),
    (NotBuiltError, 409),
    (BusyError, 409),
    (IndexFileError, 503),
    (SimsearchError, 400),
)


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ValidationErrorBody if code == 422 else ErrorBody, "description": text}
    for code, text in (
        (400, "Bad input (wrong dimension, NaN, wrong item type, ...)"),
        (404, "Unknown ids"),
        (413, "Body or batch too large"),
        (415, "Not application/json"),
        (422, "Not the request schema"),
    )
}
_SEARCH_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    422: {
        "model": ValidationErrorBody,
        "description": "Not the request schema, or a where naming a field the items lack or "
        "comparing it with a value of another type than the field holds",
    },
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    **{
        code: {"model": ErrorBody, "description": text}
        for code, text in (
            (401, "Missing or wrong X-API-Key"),
            (403, "Writes are disabled on this server"),
            (409, "Ids already in the index (add)"),
            (503, "The index cannot be written"),
        )
    },
}

router = APIRouter()


def create_app(service: IndexService, review: ReviewQueue | None = None) -> FastAPI:
    """Return the ASGI app serving `service`; it starts the service (if not yet) and closes it
    (checkpoint) with the app's lifespan. With `review`, the review and labelling page too
    (`/review`, `simsearch.server.review`).

    Example:
    >>> app = create_app(IndexService(SearchEngine.load("indexes/catalogue"), ServerConfig()))
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not service.ready and service.failure is None:
            await run_in_threadpool(service.start)
        yield
        if review is not None and review.retrain is not None:
            review.retrain.close()
        await run_in_threadpool(service.close)

    app = FastAPI(
        title="simsearch",
        version=simsearch.__version__,
        summary="Similarity search over one index directory: search, compare, get and update items.",
        lifespan=lifespan,
        docs_url=None,  # served by add_docs from local assets: FastAPI's default is a CDN
        redoc_url=None,
    )
    add_docs(app)
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=service.config.max_body_bytes)
    app.add_exception_handler(SimsearchError, _simsearch_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _server_error)
    app.include_router(router)
    if review is not None:
        app.state.review = review
        for review_router in routers():
            app.include_router(review_router)
    return app


def _service(request: Request) -> IndexService:
    return request.app.state.service


Service = Annotated[IndexService, Depends(_service)]


def require_writer(service: Service, key: Annotated[str | None, Security(API_KEY)] = None) -> None:
    """Let a write through: the right key when one is configured, else only with --allow-writes."""
    config = service.config
    if config.api_key is None:
        if not config.allow_writes:
            raise HTTPException(
                403,
                "Expected a server started with --api-key or --allow-writes. Received: a read-only server",
            )
        return
    check_key(config.api_key, key)


Writer = Depends(require_writer)


# ---- status ----------------------------------------------------------------------------------


@router.get("/health", tags=["status"])
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", tags=["status"], responses={503: {"model": ErrorBody, "description": "Not ready"}})
def ready(service: Service) -> JSONResponse:
    """Readiness: the index is loaded and, where writes are enabled, writable."""
    if service.ready:
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"detail": f"Expected a ready service. Received: {service.failure or 'stopped'}"}, 503
    )


@router.get("/stats", tags=["status"], response_model=StatsResponse)
def stats(service: Service) -> dict[str, Any]:
    """Item count, index kind, dim, metric, model (kind, sha256, version), journal and limits."""
    return service.stats()


# ---- reads -----------------------------------------------------------------------------------


@router.post("/search", tags=["search"], response_model=SearchResponse, responses=_SEARCH_ERRORS)
def search(body: SearchRequest, service: Service) -> JSONResponse:
    """Search with a batch of raw items, vectors or catalogue ids (exactly one).

    Returns one `{"query", "hits"}` per query, in order; `query` is the id, text or record, or
    the position for images and vectors. Hits are `{"id", "distance", "score", "metadata"}`, as
    the CLI's `query --json`.
    """
    query = request_query(body, service)
    if body.ids is not None:
        _check_batch(len(body.ids), service)
        labels: Sequence[Any] = body.ids
        rows = service.search(query, ids=body.ids)
    elif body.vectors is not None:
        _check_batch(len(body.vectors), service)
        labels = range(len(body.vectors))
        rows = service.search(query, vectors=body.vectors)
    else:
        assert body.items is not None
        _check_batch(len(body.items), service)
        image = tower_kind(service.engine.model.kind).is_image
        labels = range(len(body.items)) if image else body.items
        content = _decode(body.items, service)
        rows = service.search(query, vectors=service.encode(content), items=content)
    results = [{"query": q, "hits": [h.to_dict() for h in row]} for q, row in zip(labels, rows, strict=True)]
    return JSONResponse({"results": results})


@router.post("/compare", tags=["search"], response_model=CompareResponse, responses=_ERRORS)
def compare(body: CompareRequest, service: Service) -> dict[str, Any]:
    """Compare two raw items: distance, head probability and the decision at the threshold."""
    a, b = _decode([body.a, body.b], service)
    return dataclasses.asdict(service.engine.model.compare(a, b))


@router.post("/identify", tags=["search"], response_model=IdentifyResponse, responses=_ERRORS)
def identify(body: IdentifyRequest, service: Service) -> dict[str, Any]:
    """Identify each photo as the person of its nearest enrolled photo, or "unknown" beyond the
    threshold: `threshold`, else the one for `max_far`, else the index's (`enrol --max-far`),
    else the model's calibrated one."""
    from simsearch.search.identify import choose_threshold, decide

    _check_batch(len(body.items), service)
    engine = service.engine
    threshold = choose_threshold(
        engine.model.threshold,
        engine.model.calibration,
        engine.identify_threshold,
        threshold=body.threshold,
        max_far=body.max_far,
        gallery_size=len(engine.index),
    )
    rows = service.search(SearchQuery(k=1), vectors=service.encode(_decode(body.items, service)))
    return {"results": [decide(row, threshold).to_dict() for row in rows]}


@router.get("/items", tags=["items"], response_model=ItemsResponse, responses=_ERRORS)
def get_items(
    service: Service,
    ids: Annotated[list[str], Query(alias="id", min_length=1, description="Catalogue id (repeatable).")],
    vectors: Annotated[bool, Query(description="Include the stored embeddings.")] = False,
) -> dict[str, Any]:
    """Stored metadata (and embeddings) of items by id; 404 names unknown ids."""
    _check_batch(len(ids), service)
    xb, metadata = service.get(ids)
    known = service.coerce_ids(ids)
    items = [
        {"id": i, "metadata": m or {}, **({"vector": x.tolist()} if vectors else {})}
        for i, m, x in zip(known, metadata, xb, strict=True)
    ]
    return {"items": items}


# ---- writes ----------------------------------------------------------------------------------


@router.post(
    "/items",
    tags=["items"],
    status_code=201,
    response_model=WriteResponse,
    responses=_WRITE_ERRORS,
    dependencies=[Writer],
)
def add_items(body: AddRequest, service: Service) -> dict[str, Any]:
    """Add items (raw items or their vectors) under new ids; 409 when an id is present.

    Returns once the write is on disk.
    """
    return _write(body, service, upsert=False)


@router.put(
    "/items", tags=["items"], response_model=WriteResponse, responses=_WRITE_ERRORS, dependencies=[Writer]
)
def upsert_items(body: AddRequest, service: Service) -> dict[str, Any]:
    """Add items, replacing those whose id is present. Returns once the write is on disk."""
    return _write(body, service, upsert=True)


@router.post(
    "/items/delete",
    tags=["items"],
    response_model=WriteResponse,
    responses=_WRITE_ERRORS,
    dependencies=[Writer],
)
def delete_items(body: DeleteRequest, service: Service) -> dict[str, Any]:
    """Delete items by id: all or none (404 names unknown ids). Returns once on disk."""
    _check_batch(len(body.ids), service)
    count = service.delete(body.ids)
    return {"op": "delete", "items": len(body.ids), "count": count}


@router.post("/checkpoint", tags=["items"], responses=_WRITE_ERRORS, dependencies=[Writer])
def checkpoint(service: Service) -> dict[str, Any]:
    """Save the index directory now and start an empty journal."""
    return service.checkpoint()


# ---- helpers ---------------------------------------------------------------------------------


def _write(body: AddRequest, service: Service, *, upsert: bool) -> dict[str, Any]:
    _check_batch(len(body.ids), service)
    vectors = body.vectors if body.vectors is not None else service.encode(_decode(body.items or [], service))
    count = service.add(body.ids, vectors, body.metadata, upsert=upsert)
    return {"op": "upsert" if upsert else "add", "items": len(body.ids), "count": count}


def _decode(items: Sequence[Any], service: IndexService) -> Any:
    model = service.engine.model
    return decode_items(items, model.kind, model.config["inputs"])


def _check_batch(n: int, service: IndexService) -> None:
    limit = service.config.max_batch
    if n > limit:
        raise HTTPException(
            413, f"Expected at most {limit} queries or items per request (max_batch). Received: {n}"
        )


async def _simsearch_error(request: Request, exc: SimsearchError) -> JSONResponse:
    if isinstance(exc, FilterError):  # a where the items' fields refuse: shaped as the schema's 422
        error = {"loc": ["body", "where"], "msg": str(exc), "type": "where"}
        return JSONResponse({"detail": str(exc), "errors": [error]}, status_code=422)
    status = next(code for kind, code in _STATUS if isinstance(exc, kind))
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": [str(part) for part in e.get("loc", ())], "msg": _message(e), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    return JSONResponse(
        {"detail": f"Expected a request matching the API schema. Received: {summary}", "errors": errors[:50]},
        status_code=422,
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail
    if detail == "There was an error parsing the body":  # FastAPI's, e.g. JSON nested too deep
        detail = "Expected a JSON body that can be parsed. Received: one that cannot (nested too deep?)"
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("Unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": f"Internal error: {type(exc).__name__}"}, status_code=500)


def _message(error: Any) -> str:
    ctx = error.get("ctx") or {}
    detail = ctx.get("error") if isinstance(ctx.get("error"), str) else None
    return f"{error.get('msg')} ({detail})" if detail else str(error.get("msg"))
