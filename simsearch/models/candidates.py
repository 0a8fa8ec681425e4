"""Held-out candidate pairs: the pairs `dedup` and `match` decide on, mined for validation and
thresholds.

A pair file's held-out pairs (true links, blocked and random non-links) may separate perfectly
while saying nothing about the near neighbours a job keeps or drops: on a person-records
benchmark they gave average precision 1.0000 and a threshold that let 631 false pairs through.
Here every held-out labelled item searches its `k` nearest neighbours in its catalogue, as the
jobs do (one catalogue: the others in it, as `dedup`; two catalogues: the second's items search
the first, as `match` searches an index of the first with the second's rows). A neighbour is a
mined positive when the transitive closure of all the labelled matches links it to the item, and
a mined negative otherwise (as blocked candidate sets are labelled); `negatives=False` drops
the mined negatives, for pair files known to miss some links. Pairs labelled in the pair files
are left out: the held-out ones are already measured, the training ones were learned.

`CandidateMiner` mines with whatever embeddings it is given: `training.train_pairs` measures
every candidate tower on the union of what each one mines (the same units for all, so the paired
test of `selection` stays paired, and each is judged on the near negatives the other retrieves,
which a job could see) and calibrates the saved tower's thresholds on its own candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faiss
import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.models.fitting import entity_labels
from simsearch.models.recipe import encode
from simsearch.models.selection import describe_counts
from simsearch.train_config import TrainConfig

__all__ = [
    "CANDIDATE_K",
    "CandidateMiner",
    "HeldOutCandidates",
    "concat_pairs",
    "count_pairs",
    "union_pairs",
]

CANDIDATE_K = 10  # `dedup`'s and `match`'s default -k


@dataclass(frozen=True)
class CandidateMiner:
    """Mine the held-out items' nearest neighbours as labelled pairs.

    Attributes:
        queries: `(nq,) int64` rows of the held-out labelled items that search.
        base: `(nb,) int64` rows they search among (a query never finds itself).
        entity: `(n,) int64` entity of each row by the closure of all labelled matches (-1: none).
        known: pairs labelled in the pair files (training and held-out), left out of what is mined.
        k: neighbours per query.
        negatives: keep the mined negatives (else only the mined positives).
    """

    queries: npt.NDArray[np.int64]
    base: npt.NDArray[np.int64]
    entity: npt.NDArray[np.int64]
    known: Pairs
    k: int = CANDIDATE_K
    negatives: bool = True

    @classmethod
    def for_pairs(
        cls,
        n: int,
        labelled: Pairs,
        held_out: Pairs,
        entity: npt.NDArray[np.int64],
        *,
        second_catalogue: int | None = None,
        k: int = CANDIDATE_K,
        negatives: bool = True,
    ) -> CandidateMiner:
        """The miner of `held_out`'s items in a catalogue of `n` rows: with `second_catalogue`
        (the row where the second catalogue starts) its items search the first catalogue, else
        every held-out item searches the whole catalogue; `labelled` is every labelled pair."""
        if second_catalogue is None:
            queries = np.unique(np.concatenate([held_out.left, held_out.right]))
            base = np.arange(n, dtype=np.int64)
        else:
            rows = np.concatenate([held_out.left, held_out.right])
            queries = np.unique(rows[rows >= second_catalogue])
            base = np.arange(second_catalogue, dtype=np.int64)
        return cls(queries.astype(np.int64), base, entity, labelled, k=k, negatives=negatives)

    def mine(self, embeddings: npt.NDArray[np.float32], metric: str) -> Pairs:
        """The candidate pairs `(query, neighbour)` of `embeddings` `(n, dim)` under `metric`
        (`"cosine"` or `"l2"`), each unordered pair once, labelled by `entity`."""
        if len(self.queries) == 0 or len(self.base) < 2:
            return _empty()
        xb, xq = _prepared(embeddings[self.base], metric), _prepared(embeddings[self.queries], metric)
        index = faiss.IndexFlatIP(xb.shape[1]) if metric == "cosine" else faiss.IndexFlatL2(xb.shape[1])
        index.add(xb)
        _, found = index.search(xq, min(self.k + 1, len(self.base)))
        left = np.repeat(self.queries, found.shape[1])
        right = np.where(found >= 0, self.base[np.maximum(found, 0)], -1).reshape(-1)
        keep = (right >= 0) & (right != left)
        # A query's own row fills one of the k + 1 slots when it is in the base: at most k others.
        left, right = _first_k(left[keep], right[keep], self.k)
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        keys = np.unique(lo * len(self.entity) + hi)
        keys = keys[~np.isin(keys, _keys(self.known, len(self.entity)))]
        left, right = keys // len(self.entity), keys % len(self.entity)
        same = ((self.entity[left] >= 0) & (self.entity[left] == self.entity[right])).astype(np.int8)
        if not self.negatives:
            left, right, same = left[same == 1], right[same == 1], same[same == 1]
        return Pairs(left.astype(np.int64), right.astype(np.int64), same)


def _first_k(
    left: npt.NDArray[np.int64], right: npt.NDArray[np.int64], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The first `k` neighbours of each query (rows grouped by query, nearest first)."""
    starts = np.r_[0, np.flatnonzero(np.diff(left)) + 1]
    rank = np.arange(len(left)) - np.repeat(starts, np.diff(np.r_[starts, len(left)]))
    return left[rank < k], right[rank < k]


def _prepared(x: npt.NDArray[np.float32], metric: str) -> npt.NDArray[np.float32]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(x, dtype=np.float32)


def _keys(pairs: Pairs, n: int) -> npt.NDArray[np.int64]:
    left, right = pairs.left.astype(np.int64), pairs.right.astype(np.int64)
    return np.unique(np.minimum(left, right) * n + np.maximum(left, right))


def _empty() -> Pairs:
    return Pairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8))


def union_pairs(*mined: Pairs) -> Pairs:
    """The union of mined pair sets, each unordered pair once (their labels agree: one closure)."""
    both = concat_pairs(*mined)
    lo, hi = np.minimum(both.left, both.right), np.maximum(both.left, both.right)
    _, first = np.unique(np.stack([lo, hi], axis=1), axis=0, return_index=True)
    return both.take(np.sort(first)) if len(both) else both


def concat_pairs(*parts: Pairs) -> Pairs:
    """Ungraded pairs one after the other."""
    return Pairs(
        np.concatenate([p.left.astype(np.int64) for p in parts]),
        np.concatenate([p.right.astype(np.int64) for p in parts]),
        np.concatenate([p.same.astype(np.int8) for p in parts]),
    )


def count_pairs(user: Pairs, mined: Pairs, *, k: int, negatives: bool) -> dict[str, int | bool]:
    """What a held-out measurement used: the user's pairs, the mined positives and negatives."""
    return {
        "user_pairs": len(user),
        "mined_positives": int((mined.same == 1).sum()),
        "mined_negatives": int((mined.same == 0).sum()),
        "k": k,
        "mined_negatives_used": negatives,
    }


class HeldOutCandidates:
    """The user's held-out pairs and the candidates each tower (`"start"`, `"baseline"`,
    `"trained"`) mined beside them; without a miner (graded pairs, `candidate_k=0`) the user's
    pairs alone."""

    def __init__(self, user: Pairs, miner: CandidateMiner | None) -> None:
        self.user = user
        self.miner = miner
        self.mined: dict[str, Pairs] = {}

    @classmethod
    def of(
        cls,
        catalog: Items,
        pairs: Pairs,
        val_pairs: Pairs,
        config: TrainConfig,
        second_catalogue: int | None = None,
    ) -> HeldOutCandidates:
        """The held-out candidates of `val_pairs` in `catalog`, labelled by the closure of
        `pairs` and `val_pairs`; graded pairs are not mined (nothing labels a neighbour)."""
        if config.candidate_k == 0 or pairs.score is not None or val_pairs.score is not None:
            return cls(val_pairs, None)
        labelled = concat_pairs(pairs, val_pairs)
        miner = CandidateMiner.for_pairs(
            len(catalog), labelled, val_pairs, entity_labels(len(catalog), labelled),
            second_catalogue=second_catalogue, k=config.candidate_k, negatives=config.mined_negatives,
        )  # fmt: skip
        return cls(val_pairs, miner)

    @property
    def mining(self) -> bool:
        return self.miner is not None

    def mine(self, name: str, tower: keras.Model, x: Any, metric: str) -> None:
        """Mine `name`'s candidates with `tower` over the catalogue's inputs `x`."""
        if self.miner is not None:
            self.mined[name] = self.miner.mine(encode(tower, x), metric)

    def _mined(self, name: str | None) -> Pairs:
        if name is None:
            return union_pairs(*self.mined.values()) if self.mined else _empty()
        return self.mined.get(name, _empty())

    def pairs(self, name: str | None = None) -> Pairs:
        """The user's held-out pairs and `name`'s mined candidates (None: every tower's)."""
        if self.miner is None:
            return self.user
        return concat_pairs(self.user, self._mined(name))

    def counts(self, name: str | None = None) -> dict[str, Any]:
        """`count_pairs` of `pairs(name)`, and which towers mined them."""
        if self.miner is None:
            return {"user_pairs": len(self.user), "mined_positives": 0, "mined_negatives": 0, "k": 0}
        out: dict[str, Any] = count_pairs(
            self.user, self._mined(name), k=self.miner.k, negatives=self.miner.negatives
        )
        out["mined_by"] = sorted(self.mined) if name is None else [name]
        return out

    def own(self, chosen: str, has_baseline: bool) -> str:
        """The mined set of the `selection` candidate `chosen`: the baseline's own when it is a
        separate tower, else the start state's (the tower starts as its baseline)."""
        if chosen == "trained":
            return "trained"
        return "baseline" if chosen == "baseline" and has_baseline else "start"

    def describe(self, name: str | None = None) -> str:
        """`'N held-out pairs (U user pairs, P mined positives, Q mined negatives)'`."""
        return describe_counts(self.counts(name))
