"""`Hit`: one search result, the shape every way in (Python, CLI `--json`, HTTP) returns."""

from __future__ import annotations

import json
from typing import Any, NoReturn

__all__ = ["Hit"]

_UNPARSED = object()  # the metadata is still the index's JSON text


class Hit:
    """One neighbour of a query; immutable.

    Attributes:
        id: the catalogue id of the item.
        distance: distance to the query under the index's metric (`1 - cos` for cosine, true
            Euclidean distance for l2); lower = more similar.
        score: the pairwise head's probability that the item is the same as the query, when the
            hit was re-ranked, else None; higher = more similar.
        metadata: the item's stored metadata, if any.

    A search builds its hits with `Hit.stored`, which keeps the item's metadata as the index's
    JSON text and parses it on first read of `metadata`: a search that nobody reads the metadata
    of (the server writes the text into its response as it is) never parses it. A plain class
    with slots rather than a dataclass, for the same reason: a search of k=10 builds ten of them,
    and a frozen dataclass's `__init__` costs several times as much.
    """

    __slots__ = ("_metadata", "_text", "distance", "id", "score")

    id: Any
    distance: float
    score: float | None
    _metadata: Any  # a dict, or _UNPARSED while `_text` holds it
    _text: str | None

    def __init__(
        self, id: Any, distance: float, score: float | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        _set(self, "id", id)
        _set(self, "distance", distance)
        _set(self, "score", score)
        _set(self, "_metadata", {} if metadata is None else metadata)
        _set(self, "_text", None)

    @classmethod
    def stored(cls, id: Any, distance: float, text: str | None) -> Hit:
        """A hit whose metadata is the index's JSON `text` (None: none), parsed when first read."""
        hit = _new(cls)
        _set(hit, "id", id)
        _set(hit, "distance", distance)
        _set(hit, "score", None)
        _set(hit, "_metadata", _UNPARSED if text is not None else {})
        _set(hit, "_text", text)
        return hit

    @property
    def metadata(self) -> dict[str, Any]:
        """The item's stored metadata (`{}` when none)."""
        value = self._metadata
        if value is _UNPARSED:
            value = json.loads(self._text or "{}")
            _set(self, "_metadata", value)
        return value

    @property
    def metadata_json(self) -> str:
        """The metadata as JSON text: the index's own text when it was never parsed."""
        if self._metadata is _UNPARSED:
            return self._text or "{}"
        return json.dumps(self._metadata) if self._metadata else "{}"

    def with_score(self, score: float | None) -> Hit:
        """This hit with the re-ranker's `score`."""
        hit = _new(Hit)
        for name in Hit.__slots__:
            _set(hit, name, getattr(self, name))
        _set(hit, "score", score)
        return hit

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: `{"id", "distance", "score", "metadata"}`."""
        return {"id": self.id, "distance": self.distance, "score": self.score, "metadata": self.metadata}

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"Expected a Hit left as it is (hits are immutable). Received: {name}={value!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Expected a Hit left as it is (hits are immutable). Received: del {name}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Hit:
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # unhashable, as the dataclass was: metadata is a dict

    def __repr__(self) -> str:
        return (
            f"Hit(id={self.id!r}, distance={self.distance!r}, score={self.score!r}, "
            f"metadata={self.metadata!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (Hit, (self.id, self.distance, self.score, self.metadata))

    def _key(self) -> tuple[Any, ...]:
        return (self.id, self.distance, self.score, self.metadata)


_set = object.__setattr__
_new = object.__new__
