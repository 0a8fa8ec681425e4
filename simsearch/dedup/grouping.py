"""Duplicate groups from pairs: `group_pairs` for a whole catalogue, `assign_groups` for new items.

Methods:

- `"average"` (default): average-linkage agglomerative clustering inside each connected
  component, cut at the threshold the pairs were found with; a pair that is not among the pairs
  counts as score 0 (with `min_score`, as dedupe does) or as twice `max_distance` (the same
  ratio to the cut as score 0 to dedupe's usual 0.5). Two groups merge only when their items are
  alike *on average*, so a path a–b–c–d–e of pairs just inside the threshold does not make one
  group of items whose ends are far apart. A group can only grow while most of its pairs are
  found: items with more than `k` exact duplicates need a larger `k` in `find_duplicates`.
  Components of more than `LINKAGE_MAX_NODES` items fall back to `"center"`, with a warning.
- `"center"`: star clustering (CENTER): pairs best first, every member joins a centre it is
  paired with directly, so no group is wider than two pairs. Linear in the pairs, greedier.
- `"components"`: connected components (union-find). Every chain of pairs is one group: fine
  for strict thresholds and exact duplicates, wrong for loose ones.

Example:
>>> pairs = find_duplicates(index, PairFilter(k=10, max_distance=0.05))
>>> groups = group_pairs(index.ids, pairs, max_distance=0.05)
>>> new_groups = assign_groups((old_ids, old_groups), added_ids, new_pairs, max_distance=0.05)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.dedup._linkage import Graph, average_linkage, centers, components
from simsearch.dedup.checks import IdLookup, check_max_distance, check_min_score
from simsearch.dedup.pairs import DuplicatePairs
from simsearch.errors import ConfigError, DataError
from simsearch.index.checks import IdArray, check_ids, id_kind

__all__ = ["LINKAGE_MAX_NODES", "METHODS", "assign_groups", "group_pairs"]

logger = logging.getLogger(__name__)

METHODS = ("average", "center", "components")

# Average linkage is ~O(pairs log pairs) on k-NN pairs (one component of 20k items and 137k
# pairs: ~2.5 s) but can reach (component nodes)^2 on dense pair sets; above this, "center".
LINKAGE_MAX_NODES = 100_000

Existing = Mapping[Any, int] | tuple[Sequence[Any] | npt.ArrayLike, Sequence[int] | npt.ArrayLike]


def group_pairs(
    ids: Sequence[Any] | npt.ArrayLike,
    pairs: DuplicatePairs,
    *,
    method: str = "average",
    max_distance: float | None = None,
    min_score: float | None = None,
) -> npt.NDArray[np.int64]:
    """Return a duplicate group id per item: `(n,) int64` aligned with `ids`.

    Groups are numbered 0, 1, ... in the order of their first item in `ids`; an item in no pair
    is a group of its own.

    Args:
        ids: `(n,)` unique catalogue ids, e.g. `index.ids`; every id in `pairs` must be one.
        pairs: from `find_duplicates` (or `exact_duplicates`).
        method: `"average"`, `"center"` or `"components"` (see the module docstring).
        max_distance: the distance threshold the pairs were found with: pairs are compared by
            distance and cut there.
        min_score: the score threshold the pairs were found with: pairs are compared by score
            (they need scores) and cut there. `"average"` needs one of the two; pairs beyond
            either are ignored.

    Example:
    >>> group_pairs(["a", "b", "c"], DuplicatePairs(["a"], ["b"], [0.01]), max_distance=0.05)
    array([0, 0, 1])
    """
    method = _check_method(method)
    ids = check_ids(ids, None, None)
    cost, cut, missing = _costs(pairs, method, max_distance, min_score)
    lookup = IdLookup(ids, "ids")
    left, right = lookup.positions(pairs.left_ids, "pair ids"), lookup.positions(pairs.right_ids, "pair ids")
    keep = (cost <= cut) & (left != right)
    nodes, local = np.unique(np.concatenate([left[keep], right[keep]]), return_inverse=True)
    half = int(keep.sum())
    graph = _graph(
        np.ones(len(nodes), np.int64), np.zeros(len(nodes), bool), local[:half], local[half:], cost[keep]
    )
    labels = np.arange(len(ids), dtype=np.int64)
    labels[nodes] = nodes[_cluster(graph, method, cut, missing)]
    groups = _numbered(labels)
    logger.info(
        "Grouped %d items by %s over %d pairs: %d groups of 2+ items",
        len(ids),
        method,
        half,
        int((np.bincount(groups) > 1).sum()) if len(groups) else 0,
    )
    return groups


def assign_groups(
    existing: Existing,
    new_ids: Sequence[Any] | npt.ArrayLike,
    pairs: DuplicatePairs,
    *,
    method: str = "average",
    max_distance: float | None = None,
    min_score: float | None = None,
) -> npt.NDArray[np.int64]:
    """Return the group of each new item, keeping existing items' groups as they are.

    The existing groups enter the clustering as clusters that may grow but never merge with each
    other. A new item linked to an existing group joins it; a new item (or cluster of new items)
    linked to several joins the best-linked one: the lowest average linkage with `"average"`,
    the best single pair with `"center"` and `"components"`. The groups it also links to stay
    apart (merging existing groups would change ids other systems hold). Other new items form
    groups among themselves, numbered from the largest existing group id + 1 in the order of
    `new_ids`.

    Args:
        existing: the current groups, `{id: group}` or `(ids, groups)` arrays.
        new_ids: `(m,)` ids of the new items, none of them in `existing`.
        pairs: pairs involving new items, e.g. `find_duplicates(index, query_ids=new_ids)`;
            pairs between two existing items are ignored.
        method, max_distance, min_score: as for `group_pairs`.

    Returns:
        `(m,) int64` group ids aligned with `new_ids`.

    Example:
    >>> pairs = find_duplicates(index, PairFilter(max_distance=0.05), query_ids=added)
    >>> added_groups = assign_groups(dict(zip(old_ids, old_groups)), added, pairs, max_distance=0.05)
    """
    method = _check_method(method)
    old_ids, old_groups = _existing(existing)
    new_ids = check_ids(new_ids, None, None, "new_ids")
    cost, cut, missing = _costs(pairs, method, max_distance, min_score)
    lookup = IdLookup(_catalogue(old_ids, new_ids), "existing groups or new_ids")
    left, right = lookup.positions(pairs.left_ids, "pair ids"), lookup.positions(pairs.right_ids, "pair ids")
    n_old = len(old_ids)
    keep = (cost <= cut) & (left != right) & ((left >= n_old) | (right >= n_old))
    values, group_of_old, group_sizes = np.unique(old_groups, return_inverse=True, return_counts=True)
    local, linked = _nodes(np.concatenate([left[keep], right[keep]]), n_old, group_of_old, len(new_ids))
    sizes = np.concatenate([np.ones(len(new_ids), np.int64), group_sizes[linked]])
    locked = np.arange(len(sizes)) >= len(new_ids)
    half = int(keep.sum())
    graph = _graph(sizes, locked, local[:half], local[half:], cost[keep])
    labels = _cluster(graph, method, cut, missing)
    start = int(values.max()) + 1 if len(values) else 0
    return _new_groups(labels, len(new_ids), values[linked], start)


def _nodes(
    ends: npt.NDArray[np.int64], n_old: int, group_of_old: npt.NDArray[np.int64], m: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Map pair ends (catalogue positions: existing items, then new ones) to graph nodes.

    Nodes `0 .. m-1` are the new items, `m + j` the `j`-th existing group some pair links to.
    Returns the node of each end and the indices of those linked groups.
    """
    is_new = ends >= n_old
    group = np.zeros(len(ends), np.int64)
    group[~is_new] = group_of_old[ends[~is_new]]
    linked = np.unique(group[~is_new])
    return np.where(is_new, ends - n_old, m + np.searchsorted(linked, group)), linked


# ---- building the graph --------------------------------------------------------------------


def _graph(
    sizes: npt.NDArray[np.int64],
    locked: npt.NDArray[np.bool_],
    left: npt.NDArray[np.int64],
    right: npt.NDArray[np.int64],
    cost: npt.NDArray[np.float64],
) -> Graph:
    """Return the graph of item pairs `(left, right)` between nodes: summed per node pair.

    Several item pairs can sit behind one edge when a node is an existing group.
    """
    a, b = np.minimum(left, right), np.maximum(left, right)
    keys = a * max(len(sizes), 1) + b
    order = np.lexsort((cost, keys))
    keys, a, b, cost = keys[order], a[order], b[order], cost[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    return Graph(
        sizes=sizes,
        locked=locked,
        a=a[starts],
        b=b[starts],
        cost_sum=np.add.reduceat(cost, starts) if len(starts) else np.zeros(0),
        count=np.diff(np.r_[starts, len(keys)]).astype(np.int64),
        best=cost[starts],  # sorted by cost within each key
    )


def _cluster(graph: Graph, method: str, cut: float, missing: float) -> npt.NDArray[np.int64]:
    """Return the representative node of each node's cluster under `method`."""
    if method == "components":
        return components(graph)
    if method == "center":
        return centers(graph)
    parts = components(Graph(graph.sizes, np.zeros(graph.n, bool), *_edges(graph)))
    _, part_of, part_nodes = np.unique(parts, return_inverse=True, return_counts=True)
    big = part_nodes[part_of] > LINKAGE_MAX_NODES
    if not big.any():
        return average_linkage(graph, cut, missing)
    logger.warning(
        "%d component(s) over %d items: grouped by 'center' instead of 'average'",
        int((part_nodes > LINKAGE_MAX_NODES).sum()),
        LINKAGE_MAX_NODES,
    )
    on_big = big[graph.a]
    return np.where(
        big, centers(graph.subgraph(on_big)), average_linkage(graph.subgraph(~on_big), cut, missing)
    )


def _edges(graph: Graph) -> tuple[Any, ...]:
    return graph.a, graph.b, graph.cost_sum, graph.count, graph.best


# ---- inputs and outputs ----------------------------------------------------------------------


def _costs(
    pairs: DuplicatePairs, method: str, max_distance: Any, min_score: Any
) -> tuple[npt.NDArray[np.float64], float, float]:
    """Return each pair's cost (lower = more alike), the cut, and the cost of a missing pair."""
    if not isinstance(pairs, DuplicatePairs):
        raise DataError(f"Expected pairs as DuplicatePairs. Received: {type(pairs).__name__}")
    min_score = check_min_score(min_score)
    max_distance = check_max_distance(max_distance, None)
    if min_score is not None:
        if pairs.scores is None:
            raise ConfigError(
                "Expected scored pairs (from score_pairs) to group by min_score. Received: no scores"
            )
        return 1.0 - pairs.scores.astype(np.float64), 1.0 - min_score, 1.0
    if max_distance is not None:
        return pairs.distances.astype(np.float64), max_distance, 2.0 * max_distance
    if method == "average":
        raise ConfigError(
            "Expected max_distance or min_score (the threshold the pairs were found with) for "
            "method='average'. Received: neither"
        )
    if pairs.scores is not None:
        return 1.0 - pairs.scores.astype(np.float64), math.inf, math.inf
    return pairs.distances.astype(np.float64), math.inf, math.inf


def _check_method(method: Any) -> str:
    if method not in METHODS:
        raise ConfigError(f"Expected method in {METHODS}. Received: method={method!r}")
    return str(method)


def _existing(existing: Existing) -> tuple[IdArray, npt.NDArray[np.int64]]:
    """Return `(ids, groups)` arrays of the existing groups."""
    raw_ids: Any
    groups: Any
    if isinstance(existing, Mapping):
        raw_ids, groups = list(existing.keys()), list(existing.values())
    elif isinstance(existing, tuple) and len(existing) == 2:
        raw_ids, groups = existing
    else:
        raise DataError(
            f"Expected existing groups as {{id: group}} or (ids, groups). Received: {type(existing).__name__}"
        )
    ids = check_ids(raw_ids, None, None, "existing ids")
    values = np.asarray(groups)
    if values.shape != (len(ids),) or (len(values) and (values.dtype.kind not in "iu" or values.min() < 0)):
        raise DataError(
            f"Expected one int group id >= 0 per existing id ({len(ids)}). Received: groups of shape "
            f"{values.shape}, dtype {values.dtype}"
        )
    return ids, values.astype(np.int64)


def _catalogue(old_ids: IdArray, new_ids: IdArray) -> IdArray:
    """Return existing then new ids; they must be of one kind and not overlap."""
    if len(old_ids) and len(new_ids) and id_kind(old_ids) != id_kind(new_ids):
        raise DataError(
            f"Expected new_ids of the existing ids' kind ({id_kind(old_ids)}). "
            f"Received: {id_kind(new_ids)} ids"
        )
    both = np.concatenate([old_ids, new_ids]) if len(old_ids) else new_ids
    overlap = set(old_ids.tolist()) & set(new_ids.tolist())
    if overlap:
        raise DataError(
            f"Expected new_ids not in the existing groups. Received: {len(overlap)} already grouped, "
            f"first {sorted(overlap, key=str)[:5]}"
        )
    return both


def _new_groups(
    labels: npt.NDArray[np.int64], m: int, group_values: npt.NDArray[np.int64], start: int
) -> npt.NDArray[np.int64]:
    """Turn cluster representatives into group ids for the new items (nodes `0 .. m-1`).

    A cluster holding an existing group (nodes `m ..`) takes its id; the others are numbered
    from `start`.
    """
    group_of_root = np.full(len(labels), -1, np.int64)
    group_of_root[labels[m:]] = group_values  # one locked node per cluster at most
    out = group_of_root[labels[:m]]
    fresh = out < 0
    if fresh.any():
        out[fresh] = start + _numbered(labels[:m][fresh])
    return out


def _numbered(labels: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Renumber cluster labels 0, 1, ... by first appearance."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse].reshape(-1)
