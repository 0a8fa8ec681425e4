"""Who may change what: the API key every write sends in `X-API-Key`, checked in constant time.

index writes     /items (POST, PUT), /items/delete, /checkpoint: the key when the server has
                 one, else only with `--allow-writes` (app.py's `require_writer`)
review writes    /review/label, /review/undo, /review/groups/member: the key when the server
                 has one (`require_labeller`); a server without one takes labels from whoever
                 reaches it (loopback by default)
retraining       POST /review/retrain starts a training process: the key when the server has
                 one, else only with `--allow-retrain` (`require_retrainer`)
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader

__all__ = ["API_KEY", "check_key", "require_labeller", "require_retrainer"]

API_KEY = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Needed by every write (index writes, review labels, retraining) when the server has a key.",
)


def check_key(expected: str, key: str | None) -> None:
    """Refuse (401) a missing key or one other than `expected`, compared in constant time."""
    if key is None or not hmac.compare_digest(key.encode(), expected.encode()):
        raise HTTPException(
            401,
            f"Expected a valid X-API-Key header. Received: {'none' if key is None else 'a wrong key'}",
            headers={"WWW-Authenticate": "ApiKey"},
        )


def require_labeller(request: Request, key: Annotated[str | None, Security(API_KEY)] = None) -> None:
    """Let a review write (label, undo, group mark) through: the right key when one is configured."""
    api_key = request.app.state.service.config.api_key
    if api_key is not None:
        check_key(api_key, key)


def require_retrainer(request: Request, key: Annotated[str | None, Security(API_KEY)] = None) -> None:
    """Let a retraining start: the right key when one is configured, else only with --allow-retrain."""
    api_key = request.app.state.service.config.api_key
    if api_key is not None:
        check_key(api_key, key)
    elif not request.app.state.review.allow_retrain:
        raise HTTPException(
            403,
            "Expected a server started with --api-key or --allow-retrain to start a training "
            "process. Received: a server with neither",
        )
