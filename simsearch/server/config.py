"""`ServerConfig`: access and limits of the HTTP service, one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass

from simsearch.errors import ConfigError

__all__ = ["ServerConfig"]


@dataclass(frozen=True)
class ServerConfig:
    """Settings of `simsearch serve`.

    Args:
        api_key: the key write requests must send in `X-API-Key`; None for none.
        allow_writes: accept writes without a key (only when `api_key` is None); by default a
            server without a key is read-only.
        max_batch: the most queries per search, items per write and ids per get.
        max_k: the largest `k` (and re-rank depth) a search may ask for; range searches return
            at most this many hits per query, nearest first.
        max_body_bytes: the largest request body; refused (413) before it is parsed.
        batching: run concurrent searches, encodings and writes as batches (`MicroBatcher`).
        batch_window_ms: how long a batch waits for more requests after the first (0: none).
        checkpoint_bytes: save the index (and start an empty journal) once the journal holds
            this many bytes; also on shutdown and on `POST /checkpoint`.
    """

    api_key: str | None = None
    allow_writes: bool = False
    max_batch: int = 256
    max_k: int = 1000
    max_body_bytes: int = 16 * 1024 * 1024
    batching: bool = True
    batch_window_ms: float = 0.0
    checkpoint_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_k", "max_body_bytes", "checkpoint_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Expected {name} >= 1. Received: {name}={value!r}")
        if not 0.0 <= self.batch_window_ms <= 1000.0:
            raise ConfigError(
                f"Expected 0 <= batch_window_ms <= 1000. Received: batch_window_ms={self.batch_window_ms}"
            )
        if self.api_key is not None and len(self.api_key) < 8:
            raise ConfigError(f"Expected an API key of at least 8 characters. Received: {len(self.api_key)}")

    @property
    def writes(self) -> str:
        """How writes are guarded: `"api-key"`, `"open"` or `"disabled"`."""
        if self.api_key is not None:
            return "api-key"
        return "open" if self.allow_writes else "disabled"
