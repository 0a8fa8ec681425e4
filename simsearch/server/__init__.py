"""The HTTP query service (`simsearch serve`): FastAPI on uvicorn over one index directory.

    config     ServerConfig: API key, write access, limits, batching, checkpoints
    service    IndexService: the loaded engine shared by threads; durable writes via the journal
    app        create_app: the routes (OpenAPI at /openapi.json), errors, access
    fast_search  FastSearch: cheap searches by vector answered in front of the app
    schemas    request and response bodies (pydantic)
    items      base64 images, texts and records -> the tower's inputs
    limits     BodyLimit: body size and media type checked before parsing
    batcher    MicroBatcher: concurrent requests' work as one call
    locks      RWLock: searches side by side, updates alone

Importing this package does not import TensorFlow; nor does loading an engine whose model files
are the ones its index recorded: the model loads on the first request that needs it.

Example:
>>> from simsearch.engine import SearchEngine
>>> from simsearch.server import FastSearch, IndexService, ServerConfig, create_app
>>> service = IndexService(SearchEngine.load("indexes/catalogue"), ServerConfig(allow_writes=True))
>>> uvicorn.run(FastSearch(create_app(service), service), host="127.0.0.1", port=8000)
"""

from __future__ import annotations

from simsearch.server.app import create_app
from simsearch.server.config import ServerConfig
from simsearch.server.fast_search import FastSearch
from simsearch.server.service import IndexService

__all__ = ["FastSearch", "IndexService", "ServerConfig", "create_app"]
