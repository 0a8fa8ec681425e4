"""How well a dedup or match output finds the true links: precision, recall and F1 over pairs,
as record-linkage tools score them (`recordlinkage.fscore(links_true, links_pred)`).

A link is a pair of ids; a group of n items stands for its n(n-1)/2 pairs
(`simsearch.dedup.read_links` reads either from a file).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["linkage_scores"]


def linkage_scores(true_links: Collection[Any], found_links: Collection[Any]) -> dict[str, float | int]:
    """Precision, recall and F1 of `found_links` against `true_links` (sets of hashable pairs).

    An empty side gives 0.0 where its ratio has no pairs to count (no link found: precision 0).

    Example:
        >>> linkage_scores({("a", "b"), ("c", "d")}, {("a", "b"), ("a", "c")})
        {'true links': 2, 'found links': 2, 'found and true': 1, 'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    true, found = set(true_links), set(found_links)
    hits = len(true & found)
    precision = hits / len(found) if found else 0.0
    recall = hits / len(true) if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return {
        "true links": len(true),
        "found links": len(found),
        "found and true": hits,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }
