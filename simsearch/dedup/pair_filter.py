"""`PairFilter`: what a candidate pair of a k-NN join must pass to be kept.

One object for the local joins (`find_duplicates`, `match_catalogues`), the Dask ones
(`simsearch.distributed.JoinSpec`) and the `dedup` / `match` commands, checked once when made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simsearch.dedup.checks import check_k, check_max_distance, check_min_score
from simsearch.dedup.scoring import PairScorer, check_scorer
from simsearch.search.query import Filter, Query

__all__ = ["PairFilter"]


@dataclass(frozen=True)
class PairFilter:
    """Keep at most `k` candidates per query item, at most `max_distance` apart, scored by
    `scorer` and kept when their score is at least `min_score`; with `where`, only items whose
    metadata pass it, at both ends.

    A pair passes `max_distance` when `distance <= max_distance` (the index's distance: `1 - cos`
    for cosine, Euclidean for l2) and `min_score` when `score >= min_score`.

    Args:
        k: nearest neighbours searched per item (pairs kept per item, before filtering).
        max_distance: keep pairs at most this far apart; None keeps every candidate. Checked
            against the index's metric (at most 2 for cosine) when the join starts.
        min_score: keep pairs scored at least this (a probability); needs `scorer`.
        scorer: a `PairScorer`; when given, every candidate within `max_distance` gets a score.
        where: restrict the catalogue to the items this metadata filter allows (a JSON where,
            `{"shop": "b"}`, or a `Where`; `simsearch.search.where`): the self-join searches only
            them among them, a match finds only them for catalogue B's items.

    Raises:
        ConfigError: k < 1, a threshold out of range, `min_score` without a scorer, a scorer
            that is not a `PairScorer`; `FilterError` for a malformed `where`.

    Example:
    >>> PairFilter(k=10, max_distance=0.05)
    >>> PairFilter(k=20, max_distance=0.2, min_score=0.9, scorer=EmbeddingScorer(model.score_pairs))
    >>> PairFilter(k=10, max_distance=0.05, where={"shop": "b"})
    """

    k: int = 10
    max_distance: float | None = None
    min_score: float | None = None
    scorer: PairScorer | None = None
    where: Filter | Any = None

    def __post_init__(self) -> None:
        check_scorer(self.scorer)
        object.__setattr__(self, "where", Query(filter=self.where).filter)  # checked as a query's
        object.__setattr__(self, "k", check_k(self.k))
        object.__setattr__(self, "max_distance", check_max_distance(self.max_distance, None))
        object.__setattr__(self, "min_score", check_min_score(self.min_score, self.scorer))

    @property
    def scored(self) -> bool:
        """Whether the pairs kept get scores."""
        return self.scorer is not None

    def check_metric(self, metric: str) -> PairFilter:
        """Return this filter once `max_distance` is checked against the index's `metric`."""
        check_max_distance(self.max_distance, metric)
        return self
