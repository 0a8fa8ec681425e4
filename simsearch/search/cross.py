"""Re-ranking by a cross-encoder, plugged in as callables: it reads the query's text and each
hit's stored text (its metadata) side by side, and may fuse its score with the tower's distance.

    CrossScorer     texts(rows) -> list[str]; score(left, right, distances) -> (n,)
    cross_scores    a `ScoreHits` for `rerank_by`: query texts against the hits' texts
    pair_scorer     score_ids(left_ids, right_ids, distances) -> (n,), for dedup and matching

`simsearch.models.CrossEncoder` supplies both callables (`CrossScorer(cross.texts, cross.score)`);
nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.search.hits import Hit
from simsearch.search.rerank import ScoreHits

__all__ = ["CrossScorer", "ScoreIds", "as_columns", "cross_scores", "is_records", "pair_scorer"]

# score_ids(left_ids, right_ids, distances) -> (n,): the score of each pair of catalogue items.
ScoreIds = Callable[[Any, Any, Any], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class CrossScorer:
    """A cross-encoder as two callables.

    Attributes:
        texts: `texts(rows) -> list[str]`, the text it reads for each row (texts, or a dict of
            columns of records' fields).
        score: `score(left, right, distances) -> (n,)` for `n` text pairs: its probability that
            each pair is the same, or, when `distances` (the tower's, `(n,)`) are given, its fusion
            with them (higher = more alike).
    """

    texts: Callable[[Any], list[str]]
    score: Callable[[Sequence[str], Sequence[str], npt.ArrayLike | None], npt.NDArray[np.float32]]

    def texts_of(self, rows: Any) -> list[str]:
        """The texts of `rows`: texts, a dict of columns, or records (a list of dicts)."""
        return self.texts(as_columns(rows))


def cross_scores(scorer: CrossScorer, queries: Sequence[str], *, fusion: bool) -> ScoreHits:
    """A `score_hits(rows, hits)` for `rerank_by`: query text `queries[rows[j]]` against the text
    of hit `hits[j]`'s metadata, fused with the hit's distance when `fusion`."""

    def score_hits(rows: npt.NDArray[np.int64], chosen: Sequence[Hit]) -> np.ndarray:
        texts = scorer.texts_of([hit.metadata for hit in chosen])
        distances = [hit.distance for hit in chosen] if fusion else None
        return scorer.score([queries[i] for i in rows], texts, distances)

    return score_hits


def pair_scorer(
    scorer: CrossScorer,
    metadata: Callable[[Any], Sequence[Any]],
    right: Mapping[Any, str] | None = None,
    *,
    fusion: bool,
) -> ScoreIds:
    """`score_ids(left_ids, right_ids, distances) -> (n,)` by the cross-encoder: left texts from
    `metadata(ids)` (the index's), right texts from it too or, for a match, from `right`
    (catalogue B: a mapping id -> text).

    Scores are the cross-encoder's probabilities, or with `fusion` its fusion with the distance
    clipped to [0, 1] (the fusion is a regression on 0/1 targets).
    """

    def score_ids(left: Any, right_ids: Any, distances: Any) -> npt.NDArray[np.float32]:
        b = scorer.texts_of(metadata(right_ids)) if right is None else [right[i] for i in right_ids]
        scores = scorer.score(scorer.texts_of(metadata(left)), b, distances if fusion else None)
        return np.clip(scores, 0.0, 1.0) if fusion else scores

    return score_ids


def is_records(items: Any) -> bool:
    """Whether `items` are records: a non-empty list of dicts."""
    return (
        isinstance(items, Sequence)
        and not isinstance(items, str)
        and bool(items)
        and all(isinstance(item, dict) for item in items)
    )


def as_columns(rows: Any) -> Any:
    """Records (a list of dicts) as columns; a dict of columns or a list of texts as it is."""
    if isinstance(rows, dict) or not is_records(rows):
        return rows
    names = list(dict.fromkeys(name for row in rows for name in row))
    return {name: [row.get(name) for row in rows] for name in names}
