"""One-to-one matching: keep each item of either catalogue in at most one match.

`match_catalogues` gives each item of B its `k` candidates in A, so one item of A can be matched
by several of B (a product and its colour variants). Two ways to choose among them:

- `"greedy"` (default): the pairs in order of strength (score when re-scored, else distance),
  each kept when neither of its items is taken yet, as record-linkage tools' "unique mapping"
  does. The strongest pair always wins, which is what a reviewer expects; its total strength is
  at least half the best possible.
- `"hungarian"`: the assignment with the largest total score (the smallest total distance),
  `scipy.optimize.linear_sum_assignment` over the candidates. It can drop the strongest pair to
  keep two weaker ones, so it suits catalogues known to be one-to-one as a whole. Needs SciPy, and
  a dense matrix of the distinct left by right items (refused past `MAX_CELLS`).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from simsearch.dedup.pairs import DuplicatePairs
from simsearch.errors import ConfigError

__all__ = ["MAX_CELLS", "ONE_TO_ONE", "one_to_one"]

ONE_TO_ONE = ("greedy", "hungarian")
MAX_CELLS = 50_000_000  # 200 MB of float32: distinct left items x distinct right items


def one_to_one(pairs: DuplicatePairs, method: Literal["greedy", "hungarian"] = "greedy") -> DuplicatePairs:
    """Return the pairs in which every left id and every right id appears at most once, in order
    of strength (highest score, else lowest distance, first).

    Example:
    >>> one_to_one(match_catalogues(index_a, xq, ids_b, PairFilter(k=5, max_distance=0.3)))
    """
    if method not in ONE_TO_ONE:
        raise ConfigError(f"Expected method in {list(ONE_TO_ONE)}. Received: method={method!r}")
    strength = pairs.scores if pairs.scores is not None else -pairs.distances
    rows = _greedy(pairs, strength) if method == "greedy" else _hungarian(pairs, strength)
    return pairs.select(rows[np.argsort(-strength[rows], kind="stable")])


def _greedy(pairs: DuplicatePairs, strength: np.ndarray) -> np.ndarray:
    taken_left: set[object] = set()
    taken_right: set[object] = set()
    kept = []
    for row in np.argsort(-strength, kind="stable").tolist():
        left, right = pairs.left_ids[row], pairs.right_ids[row]
        if left not in taken_left and right not in taken_right:
            taken_left.add(left)
            taken_right.add(right)
            kept.append(row)
    return np.asarray(kept, np.int64)


def _hungarian(pairs: DuplicatePairs, strength: np.ndarray) -> np.ndarray:
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as exc:
        raise ConfigError(
            "Expected SciPy for method='hungarian'. Received: no scipy; pip install scipy"
        ) from exc
    lefts, left_rows = np.unique(pairs.left_ids, return_inverse=True)
    rights, right_rows = np.unique(pairs.right_ids, return_inverse=True)
    if len(lefts) * len(rights) > MAX_CELLS:
        raise ConfigError(
            f"Expected at most {MAX_CELLS} left x right items for method='hungarian'. Received: "
            f"{len(lefts)} x {len(rights)}; use method='greedy'"
        )
    # Weights shifted to be positive; a cell with no candidate pair weighs 0 and is dropped after.
    weight = np.zeros((len(lefts), len(rights)), np.float64)
    row_of = np.full((len(lefts), len(rights)), -1, np.int64)
    shifted = strength.astype(np.float64) - float(strength.min(initial=0.0)) + 1.0
    for row in np.argsort(strength, kind="stable"):  # a repeated pair keeps its strongest row
        weight[left_rows[row], right_rows[row]] = shifted[row]
        row_of[left_rows[row], right_rows[row]] = row
    chosen_left, chosen_right = linear_sum_assignment(weight, maximize=True)
    rows = row_of[chosen_left, chosen_right]
    return rows[rows >= 0]
