"""Dedup and match tasks built from two tables and their labelled matches, as a user meets them.

From catalogues A and B and the pairs labelled as the same entity (DeepMatcher's train, valid and
test files together), `linkage_tasks` builds:

- entity clusters: the transitive closure of the matches (an item in none is its own cluster);
- a split by cluster: no entity has items on both sides, so no training link is an evaluation link;
- dedup: A and B merged into one catalogue (ids `a<id>` and `b<id>`), whose true duplicates are
  the pairs within a cluster; match: A and B as they are, the true links the A-B pairs within one;
- training pair files made as users make them: every true link of the training clusters, and per
  link `blocked` non-links that share a rare token with one of its items (a brand, a model code:
  the hard ones a blocker lets through) and `random` non-links drawn from the whole training side.

Plain Python over rows (`dict`s of strings); reading and writing the files is the caller's.

Example:
>>> tasks = linkage_tasks(table_a, table_b, matches, fields=["name", "price"], seed=0)
>>> tasks.dedup.train_pairs[:2], len(tasks.match.truth)
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from simsearch.errors import DataError

__all__ = ["DedupTask", "LinkageTasks", "MatchTask", "blocking_tokens", "entity_clusters", "linkage_tasks"]

Node = tuple[str, str]  # (side "a" or "b", the item's id in its table)
Row = dict[str, str]

MAX_TOKEN_SHARE = 0.05  # a token in more of a side's items than this blocks nothing ("the", "black")


@dataclass(frozen=True)
class DedupTask:
    """One merged catalogue: train on `train_pairs` over `train_catalog`, dedup `catalog`.

    Attributes:
        train_catalog: rows (`id` and the fields) the training pairs point into.
        train_pairs: rows `left_id, right_id, label` (1 = the same entity).
        catalog: the catalogue to deduplicate; none of its items is in `train_catalog`.
        truth: rows `id, group`: the entity of each `catalog` item (the true duplicate groups).
    """

    train_catalog: list[Row]
    train_pairs: list[Row]
    catalog: list[Row]
    truth: list[Row]


@dataclass(frozen=True)
class MatchTask:
    """Catalogue B against catalogue A: train on `train_pairs`, match `catalog_b` to `catalog_a`.

    Attributes:
        train_catalog_a, train_catalog_b: rows the training pairs' left and right ids point into.
        train_pairs: rows `left_id` (A), `right_id` (B), `label`.
        catalog_a, catalog_b: the catalogues to match, disjoint from the training ones.
        truth: rows `left_id, right_id`: the true A-B links among them.
    """

    train_catalog_a: list[Row]
    train_catalog_b: list[Row]
    train_pairs: list[Row]
    catalog_a: list[Row]
    catalog_b: list[Row]
    truth: list[Row]


@dataclass(frozen=True)
class LinkageTasks:
    """The dedup and the match task of one split, and its size."""

    dedup: DedupTask
    match: MatchTask
    sizes: dict[str, int]


def blocking_tokens(text: str) -> set[str]:
    """The tokens a blocker keys on: lower-cased words of 3+ characters, and any with a digit."""
    return {t for t in re.findall(r"[a-z0-9]+", text.lower()) if len(t) >= 3 or any(c.isdigit() for c in t)}


def entity_clusters(nodes: Iterable[Node], links: Iterable[tuple[Node, Node]]) -> dict[Node, int]:
    """A cluster number per node: the transitive closure of `links` (union-find); numbered in
    the order of `nodes`, an unlinked node alone in its cluster."""
    parent: dict[Node, Node] = {node: node for node in nodes}

    def root(node: Node) -> Node:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for u, v in links:
        if u not in parent or v not in parent:
            raise DataError(f"Expected links between known items. Received: {(u, v)}")
        parent[root(u)] = root(v)
    numbers: dict[Node, int] = {}
    return {node: numbers.setdefault(root(node), len(numbers)) for node in parent}


def linkage_tasks(
    table_a: Sequence[Row],
    table_b: Sequence[Row],
    matches: Iterable[tuple[str, str]],
    *,
    fields: Sequence[str],
    max_entities: int | None = None,
    train_fraction: float = 0.5,
    blocked: int = 4,
    random_negatives: int = 4,
    seed: int = 0,
) -> LinkageTasks:
    """Build the dedup and match tasks of tables A and B (rows with `id` and `fields`).

    Args:
        matches: `(a_id, b_id)` pairs labelled as the same entity.
        max_entities: keep this many clusters with a link and as many unlinked items (a small
            slice); None keeps everything.
        train_fraction: share of the clusters (linked and unlinked alike) on the training side.
        blocked, random_negatives: non-links per true link in the training pair files.
    """
    if not 0 < train_fraction < 1:
        raise DataError(f"Expected 0 < train_fraction < 1. Received: train_fraction={train_fraction}")
    rows = {("a", r["id"]): r for r in table_a} | {("b", r["id"]): r for r in table_b}
    cluster = entity_clusters(rows, ((("a", a), ("b", b)) for a, b in matches))
    rng = random.Random(seed)
    members: dict[int, list[Node]] = defaultdict(list)
    for node, c in cluster.items():
        members[c].append(node)
    linked = [c for c, nodes in members.items() if len(nodes) > 1]
    alone = [c for c, nodes in members.items() if len(nodes) == 1]
    rng.shuffle(linked)
    rng.shuffle(alone)
    if max_entities is not None:
        linked, alone = linked[:max_entities], alone[:max_entities]
    cut_linked, cut_alone = round(train_fraction * len(linked)), round(train_fraction * len(alone))
    train = [n for c in linked[:cut_linked] + alone[:cut_alone] for n in members[c]]
    test = [n for c in linked[cut_linked:] + alone[cut_alone:] for n in members[c]]
    text = {node: " ".join(rows[node].get(f, "") for f in fields) for node in train}
    sampler = _NonLinks(train, cluster, text, rng)

    def record(node: Node, merged: bool) -> Row:
        return {"id": _id(node, merged), **{f: rows[node].get(f, "") for f in fields}}

    dedup_links = _links(train, cluster, cross=False)
    match_links = _links(train, cluster, cross=True)
    dedup = DedupTask(
        train_catalog=[record(n, True) for n in train],
        train_pairs=_pair_rows(dedup_links, sampler.draw(dedup_links, blocked, random_negatives), True),
        catalog=[record(n, True) for n in test],
        truth=[{"id": _id(n, True), "group": str(cluster[n])} for n in test],
    )
    match = MatchTask(
        train_catalog_a=[record(n, False) for n in train if n[0] == "a"],
        train_catalog_b=[record(n, False) for n in train if n[0] == "b"],
        train_pairs=_pair_rows(match_links, sampler.draw(match_links, blocked, random_negatives), False),
        catalog_a=[record(n, False) for n in test if n[0] == "a"],
        catalog_b=[record(n, False) for n in test if n[0] == "b"],
        truth=[{"left_id": a[1], "right_id": b[1]} for a, b in _links(test, cluster, cross=True)],
    )
    sizes = {
        "entities with a link": len(linked),
        "items": len(train) + len(test),
        "training items": len(train),
        "evaluation items": len(test),
        "training dedup links": len(dedup_links),
        "evaluation dedup links": len(_links(test, cluster, cross=False)),
        "evaluation match links": len(match.truth),
    }
    return LinkageTasks(dedup=dedup, match=match, sizes=sizes)


def _id(node: Node, merged: bool) -> str:
    """The id in the merged dedup catalogue (`a12`, `b12`: the tables' ids overlap), else as is."""
    return f"{node[0]}{node[1]}" if merged else node[1]


def _links(nodes: Sequence[Node], cluster: dict[Node, int], *, cross: bool) -> list[tuple[Node, Node]]:
    """The true links among `nodes`: every pair within a cluster (dedup), or its A-B pairs (match),
    A first."""
    members: dict[int, list[Node]] = defaultdict(list)
    for node in nodes:
        members[cluster[node]].append(node)
    links = []
    for group in members.values():
        for u, v in combinations(sorted(group), 2):
            if not cross or (u[0], v[0]) == ("a", "b"):
                links.append((u, v))
    return links


def _pair_rows(links: list[tuple[Node, Node]], non_links: list[tuple[Node, Node]], merged: bool) -> list[Row]:
    labelled = [(u, v, "1") for u, v in links] + [(u, v, "0") for u, v in non_links]
    return [{"left_id": _id(u, merged), "right_id": _id(v, merged), "label": y} for u, v, y in labelled]


class _NonLinks:
    """Draws non-links for true links: blocked ones (a shared rare token) and random ones."""

    def __init__(
        self, nodes: Sequence[Node], cluster: dict[Node, int], text: dict[Node, str], rng: random.Random
    ):
        self.cluster, self.rng = cluster, rng
        self.side: dict[str, list[Node]] = {s: [n for n in nodes if n[0] == s] for s in "ab"}
        self.tokens = {node: blocking_tokens(text[node]) for node in nodes}
        self.postings: dict[str, dict[str, list[Node]]] = {s: defaultdict(list) for s in "ab"}
        for node in nodes:
            for token in self.tokens[node]:
                self.postings[node[0]][token].append(node)
        for s, postings in self.postings.items():
            cap = max(2, MAX_TOKEN_SHARE * len(self.side[s]))
            self.postings[s] = defaultdict(list, {t: p for t, p in postings.items() if len(p) <= cap})

    def draw(self, links: list[tuple[Node, Node]], blocked: int, random_: int) -> list[tuple[Node, Node]]:
        """Per link, `blocked` + `random_` distinct non-links, each with one of its two items as an
        end (in turn) and the other end on the side the link's other item is on (A or B)."""
        seen = set(links)
        drawn: list[tuple[Node, Node]] = []
        for u, v in links:
            for i in range(blocked + random_):
                anchor, other_side = (u, v[0]) if i % 2 == 0 else (v, u[0])
                pool = self._blocked(anchor, other_side) if i < blocked else []
                partner = self._pick(anchor, pool or self.side[other_side])
                if partner is None:
                    continue
                pair = (min(anchor, partner), max(anchor, partner))  # A before B, as the links
                if pair not in seen:
                    seen.add(pair)
                    drawn.append(pair)
        return drawn

    def _blocked(self, anchor: Node, side: str) -> list[Node]:
        postings = self.postings[side]
        return sorted({n for t in self.tokens[anchor] for n in postings.get(t, ())})

    def _pick(self, anchor: Node, pool: Sequence[Node]) -> Node | None:
        """A random item of `pool` of another entity than `anchor`; None after a few misses."""
        for _ in range(20):
            node = pool[self.rng.randrange(len(pool))] if pool else None
            if node is not None and self.cluster[node] != self.cluster[anchor]:
                return node
        return None
