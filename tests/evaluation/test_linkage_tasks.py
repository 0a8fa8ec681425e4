"""The dedup and match tasks built from two tables and their matches: clusters, the split by
cluster, the true links and the training pair files, against hand-built tables."""

from __future__ import annotations

from itertools import combinations

import pytest

from simsearch.errors import DataError
from simsearch.evaluation.linkage_tasks import blocking_tokens, entity_clusters, linkage_tasks

# Five entities: 0 = {a0, b0, a1} (two A items match b0), 1 = {a2, b1}, 2 = {a3, b2}, 3 = {a4, b3},
# 4 = {a5, b4}; a6 and b5, b6, b7 match nothing. Names share words so blocking finds neighbours.
TABLE_A = [{"id": str(i), "name": f"acme widget model x{i} black", "price": str(10 + i)} for i in range(7)]
TABLE_B = [{"id": str(i), "name": f"widget x{i} by acme", "price": str(10 + i)} for i in range(8)]
MATCHES = [("0", "0"), ("1", "0"), ("2", "1"), ("3", "2"), ("4", "3"), ("5", "4")]


def test_clusters_are_the_transitive_closure() -> None:
    nodes = [("a", "0"), ("a", "1"), ("b", "0"), ("a", "2"), ("b", "9")]
    cluster = entity_clusters(nodes, [(("a", "0"), ("b", "0")), (("a", "1"), ("b", "0"))])
    assert cluster[("a", "0")] == cluster[("a", "1")] == cluster[("b", "0")]
    assert len({cluster[("a", "0")], cluster[("a", "2")], cluster[("b", "9")]}) == 3
    with pytest.raises(DataError, match="Expected links between known items"):
        entity_clusters(nodes, [(("a", "0"), ("b", "7"))])


def test_no_entity_on_both_sides_and_the_truth_is_every_link_within_an_entity() -> None:
    tasks = linkage_tasks(TABLE_A, TABLE_B, MATCHES, fields=["name", "price"], seed=3)
    dedup, match = tasks.dedup, tasks.match
    train_ids = {r["id"] for r in dedup.train_catalog}
    test_ids = {r["id"] for r in dedup.catalog}
    assert not train_ids & test_ids and len(train_ids | test_ids) == 15
    entity = {
        ("a", a): n for n, members in enumerate([["0", "1"], ["2"], ["3"], ["4"], ["5"]]) for a in members
    }
    entity |= {("b", b): n for n, b in enumerate(["0", "1", "2", "3", "4"])}

    def same(u: str, v: str) -> bool:
        key_u, key_v = (u[0], u[1:]), (v[0], v[1:])
        return key_u in entity and entity[key_u] == entity.get(key_v)

    truth_groups: dict[str, set[str]] = {}
    for row in dedup.truth:
        truth_groups.setdefault(row["group"], set()).add(row["id"])
    links = {frozenset(p) for g in truth_groups.values() for p in combinations(sorted(g), 2)}
    assert links == {frozenset((u, v)) for u, v in combinations(sorted(test_ids), 2) if same(u, v)}
    # match: the test side's A-B pairs of one entity, A first
    a_ids = {r["id"] for r in match.catalog_a}
    b_ids = {r["id"] for r in match.catalog_b}
    expected = {(a, b) for a in a_ids for b in b_ids if same("a" + a, "b" + b)}
    assert {(r["left_id"], r["right_id"]) for r in match.truth} == expected
    assert {f"a{i}" for i in a_ids} | {f"b{i}" for i in b_ids} == test_ids


def test_training_pairs_are_the_training_links_and_non_links_of_other_entities() -> None:
    tasks = linkage_tasks(TABLE_A, TABLE_B, MATCHES, fields=["name", "price"], blocked=2, random_negatives=2)
    train_a = {r["id"] for r in tasks.match.train_catalog_a}
    train_b = {r["id"] for r in tasks.match.train_catalog_b}
    rows = tasks.match.train_pairs
    assert all(r["left_id"] in train_a and r["right_id"] in train_b for r in rows)
    positives = {(r["left_id"], r["right_id"]) for r in rows if r["label"] == "1"}
    true = {(a, b) for a, b in MATCHES if a in train_a and b in train_b}
    assert positives == true and positives
    negatives = [(r["left_id"], r["right_id"]) for r in rows if r["label"] == "0"]
    assert not set(negatives) & true and len(set(negatives)) == len(negatives)
    assert 0 < len(negatives) <= 4 * len(positives)
    dedup_ids = {r["id"] for r in tasks.dedup.train_catalog}
    assert all(r["left_id"] in dedup_ids and r["right_id"] in dedup_ids for r in tasks.dedup.train_pairs)


def test_a_slice_keeps_whole_entities_and_as_many_unlinked_items() -> None:
    tasks = linkage_tasks(TABLE_A, TABLE_B, MATCHES, fields=["name"], max_entities=2, seed=1)
    kept = {r["id"] for r in tasks.dedup.train_catalog + tasks.dedup.catalog}
    unlinked = {"a6", "b5", "b6", "b7"}
    entities = [{"a0", "a1", "b0"}, {"a2", "b1"}, {"a3", "b2"}, {"a4", "b3"}, {"a5", "b4"}]
    assert len(kept & unlinked) == 2
    assert sum(e <= kept for e in entities) == 2 and all(e <= kept or not e & kept for e in entities)
    assert tasks.sizes["entities with a link"] == 2 and tasks.sizes["items"] == len(kept)


def test_blocking_tokens_keep_codes_and_words_not_noise() -> None:
    assert blocking_tokens("Sony KDL-40 tv, 4k a") == {"sony", "kdl", "40", "4k"}
