"""How dedup scores candidate pairs: one protocol, `PairScorer`, for every scorer.

A scorer gets both sides of `n` candidate pairs (`PairSide`: their ids, and their embedding rows,
fetched only when it reads them) with their distances, and returns P(same) per pair. The
package's two scorers come in through it:

    EmbeddingScorer   a pairwise head on embeddings, `score(u, v)`: `SiameseModel.score_pairs`
    IdScorer          a scorer that reads the items by id, `score(left_ids, right_ids, distances)`:
                      the cross-encoder's `SearchEngine.cross_pair_scorer()`

A new scorer is a class with a `score_pairs(left, right, distances)` method; nothing else in
dedup changes. A scorer that must travel to Dask workers holds paths, not models
(`simsearch.distributed.WorkerHeadScorer`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError
from simsearch.index.checks import IdArray
from simsearch.search.rerank import ScorePairs

__all__ = ["EmbeddingScorer", "IdScorer", "PairScorer", "PairSide", "ScoreIds", "check_scorer"]

# `score_ids(left_ids, right_ids, distances) -> (n,)` scores in [0, 1] of pairs named by id.
ScoreIds = Callable[[IdArray, IdArray, npt.NDArray[np.float32]], npt.ArrayLike]

_CALL = "score_pairs(left, right, distances) -> (n,) P(same)"


class PairSide:
    """One side of `n` candidate pairs: `ids` `(n,)` and `rows` `(n, dim) float32` embeddings.

    Args:
        ids: the items' ids (catalogue ids, or catalogue B's ids for the B side of a match).
        rows: their embeddings, or a function returning them: called on the first read of
            `rows` only, so a scorer that reads ids alone costs no embedding lookup.
    """

    __slots__ = ("_rows", "ids")

    def __init__(
        self, ids: IdArray, rows: npt.NDArray[np.float32] | Callable[[], npt.NDArray[np.float32]]
    ) -> None:
        self.ids = ids
        self._rows = rows

    @property
    def rows(self) -> npt.NDArray[np.float32]:
        if callable(self._rows):
            self._rows = self._rows()
        return self._rows

    def __len__(self) -> int:
        return len(self.ids)


@runtime_checkable
class PairScorer(Protocol):
    """Scores candidate pairs: `score_pairs(left, right, distances) -> (n,) float32` P(same).

    `left` and `right` are the pairs' two sides, in the orientation the result reports (left
    before right); `distances` `(n,) float32` their index distances. Scores must be in [0, 1].
    """

    def score_pairs(
        self, left: PairSide, right: PairSide, distances: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True)
class EmbeddingScorer:
    """A `PairScorer` on embeddings: `score(left.rows, right.rows)`, e.g. a pairwise head.

    Example:
    >>> scorer = EmbeddingScorer(model.score_pairs)
    """

    score: ScorePairs

    def score_pairs(
        self, left: PairSide, right: PairSide, distances: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        return np.asarray(self.score(left.rows, right.rows), dtype=np.float32)


@dataclass(frozen=True)
class IdScorer:
    """A `PairScorer` on ids: `score(left.ids, right.ids, distances)`, for scorers that read the
    items themselves rather than their embeddings (a cross-encoder reading their texts).

    Example:
    >>> scorer = IdScorer(engine.cross_pair_scorer())
    """

    score: ScoreIds

    def score_pairs(
        self, left: PairSide, right: PairSide, distances: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        return np.asarray(self.score(left.ids, right.ids, distances), dtype=np.float32)


def check_scorer(scorer: Any) -> None:
    """A scorer is None or a `PairScorer` whose `score_pairs` takes `(left, right, distances)`."""
    if scorer is None:
        return
    hint = "e.g. EmbeddingScorer(model.score_pairs) or IdScorer(engine.cross_pair_scorer())"
    if not isinstance(scorer, PairScorer) or not callable(scorer.score_pairs):
        raise ConfigError(
            f"Expected scorer as a PairScorer, an object with {_CALL} ({hint}). "
            f"Received: {type(scorer).__name__}"
        )
    try:
        inspect.signature(scorer.score_pairs).bind(None, None, None)
    except ValueError:  # no signature to read (a builtin): it is tried when called
        return
    except TypeError:
        raise ConfigError(
            f"Expected scorer.score_pairs to take (left, right, distances) ({hint}). "
            f"Received: {type(scorer).__name__}.score_pairs{inspect.signature(scorer.score_pairs)}"
        ) from None
