"""`BodyLimit`: an ASGI middleware that refuses oversized bodies and non-JSON media before any
parsing.

A declared `Content-Length` over the limit is refused (413) without reading the body; a body sent
in chunks is counted as it arrives and refused once it passes the limit. A request with a body
that is not `application/json` is refused (415). The body read is handed on to the app as one
message, so nothing downstream reads from the socket again.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "is_json", "replay_body"]

_JSON = (b"application/json",)


class BodyLimit:
    """Refuse bodies over `max_bytes` (413) and bodies that are not JSON (415).

    Args:
        app: the ASGI app to wrap.
        max_bytes: the largest body accepted.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal = self._check_headers(headers)
        if refusal is not None:
            await _refuse(*refusal)(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await _refuse(413, self._too_large())(scope, receive, send)
            return
        if body and headers.get(b"content-type") is None:
            await _refuse(415, _media_message(b""))(scope, receive, send)
            return
        await self.app(scope, replay_body(body, receive), send)

    def _check_headers(self, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return 400, f"Expected a Content-Length of digits. Received: {length[:32]!r}"
            if int(length) > self.max_bytes:
                return 413, self._too_large(int(length))
        has_body = (length is not None and int(length) > 0) or b"transfer-encoding" in headers
        media = headers.get(b"content-type")
        if has_body and media is not None and not is_json(media):
            return 415, _media_message(media)
        return None

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit."""
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self, size: int | None = None) -> str:
        got = "more" if size is None else f"{size} bytes"
        return f"Expected a request body of at most {self.max_bytes} bytes. Received: {got}"


def is_json(media: bytes) -> bool:
    """Whether a Content-Type header names JSON (parameters such as `charset` aside)."""
    return media.split(b";")[0].strip().lower() in _JSON


def _media_message(media: bytes) -> str:
    got = media.decode("latin-1")[:64] or "no Content-Type"
    return f"Expected Content-Type: application/json. Received: {got}"


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands on `body`, already read, as one message, then `receive`'s messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # a disconnect, once the response is under way

    return replay
