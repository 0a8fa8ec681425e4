"""`Hit`: one search result, the shape every way in (Python, CLI `--json`, HTTP) returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Hit"]


@dataclass(frozen=True)
class Hit:
    """One neighbour of a query.

    Attributes:
        id: the catalogue id of the item.
        distance: distance to the query under the index's metric (`1 - cos` for cosine, true
            Euclidean distance for l2); lower = more similar.
        score: the pairwise head's probability that the item is the same as the query, when the
            hit was re-ranked, else None; higher = more similar.
        metadata: the item's stored metadata, if any.
    """

    id: Any
    distance: float
    score: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: `{"id", "distance", "score", "metadata"}`."""
        return {"id": self.id, "distance": self.distance, "score": self.score, "metadata": self.metadata}
