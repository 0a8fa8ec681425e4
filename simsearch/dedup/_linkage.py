"""Clustering of a weighted graph into groups: connected components, stars, average linkage.

The graph's nodes are items, or, when new items are grouped against existing groups, whole
groups that must keep their id ("locked" nodes, with their size). Two clusters that both hold a
locked node are never merged. Edges carry a cost (lower = more alike; `1 - score` or a distance):
for linkage, the sum and the count of the item pairs behind the edge; for ordering, the best one.
Every function returns, per node, the node that represents its cluster.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Graph", "average_linkage", "centers", "components"]


@dataclass(frozen=True)
class Graph:
    """Nodes `0 .. n-1` with `sizes` and `locked` flags; edges `a < b` with their costs.

    Attributes:
        sizes: `(n,) int64` items per node.
        locked: `(n,) bool`, nodes that hold an existing group.
        a, b: `(m,) int64` ends of each edge, one edge per node pair.
        cost_sum: `(m,) float64` sum of the item pairs' costs behind each edge.
        count: `(m,) int64` item pairs behind each edge.
        best: `(m,) float64` smallest cost behind each edge.
    """

    sizes: npt.NDArray[np.int64]
    locked: npt.NDArray[np.bool_]
    a: npt.NDArray[np.int64]
    b: npt.NDArray[np.int64]
    cost_sum: npt.NDArray[np.float64]
    count: npt.NDArray[np.int64]
    best: npt.NDArray[np.float64]

    @property
    def n(self) -> int:
        return len(self.sizes)

    def subgraph(self, edges: npt.NDArray[np.bool_]) -> Graph:
        """Return the same nodes with only the edges where `edges` is True."""
        return Graph(
            self.sizes,
            self.locked,
            self.a[edges],
            self.b[edges],
            self.cost_sum[edges],
            self.count[edges],
            self.best[edges],
        )

    def best_first(self) -> npt.NDArray[np.int64]:
        """Edge order by best cost, ties by ends: deterministic."""
        return np.lexsort((self.b, self.a, self.best))


def components(graph: Graph) -> npt.NDArray[np.int64]:
    """Union the ends of every edge, best edge first, unless both clusters are locked."""
    parent = list(range(graph.n))
    locked = graph.locked.tolist()
    for e in graph.best_first().tolist():
        ra, rb = _find(parent, int(graph.a[e])), _find(parent, int(graph.b[e]))
        if ra != rb and not (locked[ra] and locked[rb]):
            ra, rb = min(ra, rb), max(ra, rb)
            parent[rb] = ra
            locked[ra] = locked[ra] or locked[rb]
    return _roots(np.array(parent, np.int64))


def centers(graph: Graph) -> npt.NDArray[np.int64]:
    """Star clustering (the CENTER algorithm): every member is linked directly to its centre.

    Edges best first: of two unassigned ends the first becomes a centre and the other its
    member; an unassigned end linked to a centre joins it; anything else is skipped. Locked
    nodes start as centres. No group can chain: its members are one edge from its centre.
    """
    label = np.full(graph.n, -1, np.int64)
    is_center = graph.locked.copy()
    label[is_center] = np.flatnonzero(is_center)
    for e in graph.best_first().tolist():
        a, b = int(graph.a[e]), int(graph.b[e])
        if label[a] < 0 and label[b] < 0:
            label[a] = label[b] = a
            is_center[a] = True
        elif label[a] < 0 and is_center[b]:
            label[a] = b
        elif label[b] < 0 and is_center[a]:
            label[b] = a
    alone = label < 0
    label[alone] = np.flatnonzero(alone)
    return label


def average_linkage(graph: Graph, cut: float, missing: float) -> npt.NDArray[np.int64]:
    """Agglomerative clustering with average linkage, merging while the linkage is `<= cut`.

    The linkage of two clusters is the mean cost over all their item pairs, a pair without an
    edge counting as `missing`; only clusters joined by an edge can reach the cut when
    `missing > cut`. Clusters are merged closest first (ties by node number), through a heap
    of candidate merges whose stale entries are skipped: about `O(m log m)` when clusters stay
    small, as they do on k-NN graphs.
    """
    size = graph.sizes.tolist()
    locked = graph.locked.tolist()
    links: list[dict[int, tuple[float, int]]] = [{} for _ in range(graph.n)]
    rows = zip(graph.a.tolist(), graph.b.tolist(), graph.cost_sum.tolist(), graph.count.tolist(), strict=True)
    for a, b, s, c in rows:
        links[a][b] = links[b][a] = (s, c)
    version = [0] * graph.n
    heap: list[tuple[float, int, int, int, int]] = []
    for a, b, s, c in zip(
        graph.a.tolist(), graph.b.tolist(), graph.cost_sum.tolist(), graph.count.tolist(), strict=True
    ):
        _push(heap, a, b, s, c, size, locked, version, cut, missing)
    parent = np.arange(graph.n)
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if version[a] != va or version[b] != vb:
            continue
        keep, gone = (a, b) if len(links[a]) >= len(links[b]) else (b, a)
        _merge(keep, gone, links, size, locked, version)
        parent[gone] = keep
        for c, (s, n) in links[keep].items():
            _push(heap, keep, c, s, n, size, locked, version, cut, missing)
    return _roots(parent)


def _merge(
    keep: int,
    gone: int,
    links: list[dict[int, tuple[float, int]]],
    size: list[int],
    locked: list[bool],
    version: list[int],
) -> None:
    """Fold cluster `gone` into `keep`: sizes, locks, and the summed links to every neighbour."""
    into, out = links[keep], links[gone]
    del into[gone], out[keep]
    for c, (s, n) in out.items():
        t = into.get(c)
        into[c] = (s + t[0], n + t[1]) if t is not None else (s, n)
        del links[c][gone]
    for c, link in into.items():
        links[c][keep] = link
    links[gone] = {}
    size[keep] += size[gone]
    locked[keep] = locked[keep] or locked[gone]
    version[keep] += 1
    version[gone] = -1


def _push(
    heap: list[tuple[float, int, int, int, int]],
    a: int,
    b: int,
    cost_sum: float,
    count: int,
    size: list[int],
    locked: list[bool],
    version: list[int],
    cut: float,
    missing: float,
) -> None:
    """Queue the merge of clusters `a` and `b` if it is allowed and within the cut."""
    if locked[a] and locked[b]:
        return
    pairs = size[a] * size[b]
    linkage = cost_sum / pairs if count == pairs else (cost_sum + (pairs - count) * missing) / pairs
    if linkage <= cut:
        x, y = min(a, b), max(a, b)
        heapq.heappush(heap, (linkage, x, y, version[x], version[y]))


def _find(parent: list[int], x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        parent[x], x = root, parent[x]
    return root


def _roots(parent: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Return the root of every node of a parent forest, by pointer jumping."""
    while True:
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent = up
