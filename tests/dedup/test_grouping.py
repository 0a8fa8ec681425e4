"""group_pairs and assign_groups on hand-built pairs with known groups, and end to end."""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
import pytest

from simsearch.dedup import DuplicatePairs, PairFilter, assign_groups, find_duplicates, group_pairs
from simsearch.dedup import grouping as grouping_module
from simsearch.errors import ConfigError, DataError, UnknownIdError
from simsearch.index import FaissIndex, IndexConfig

from .conftest import N_BASE, N_COPIES, THRESHOLD

METHODS = ["average", "center", "components"]


def pairs_of(rows: list[tuple[object, object, float]], scores: list[float] | None = None) -> DuplicatePairs:
    left, right, dist = zip(*rows, strict=True)
    as_ids = lambda values: np.array(values, object if isinstance(values[0], str) else np.int64)  # noqa: E731
    return DuplicatePairs(as_ids(left), as_ids(right), list(dist), scores)


def same_group(groups: npt.NDArray[np.int64], ids: list[object], a: object, b: object) -> bool:
    return bool(groups[ids.index(a)] == groups[ids.index(b)])


CHAIN = ["a", "b", "c", "d", "e"]
CHAIN_PAIRS = pairs_of([("a", "b", 0.09), ("b", "c", 0.09), ("c", "d", 0.09), ("d", "e", 0.09)])


def test_default_does_not_chain_a_path_into_one_group() -> None:
    groups = group_pairs(CHAIN, CHAIN_PAIRS, max_distance=0.1)
    assert not same_group(groups, CHAIN, "a", "e")
    assert np.bincount(groups).max() <= 2
    assert same_group(groups, CHAIN, "a", "b")  # a pair within the threshold stays a pair


def test_components_join_the_whole_path() -> None:
    assert group_pairs(CHAIN, CHAIN_PAIRS, method="components").tolist() == [0, 0, 0, 0, 0]


def test_center_keeps_every_member_one_pair_from_its_centre() -> None:
    groups = group_pairs(CHAIN, CHAIN_PAIRS, method="center")
    assert not same_group(groups, CHAIN, "a", "c") and not same_group(groups, CHAIN, "a", "e")


def test_path_of_vectors_under_the_threshold_end_to_end() -> None:
    xb = np.array([[0.9 * i, 0.0] for i in range(5)] + [[0.0, 50.0]], np.float32)  # steps of 0.9, cut 1
    index = FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, [*CHAIN, "far"])
    pairs = find_duplicates(index, PairFilter(k=4, max_distance=1.0))
    assert len(pairs) == 4  # only the consecutive steps
    average = group_pairs(index.ids, pairs, max_distance=1.0)
    components = group_pairs(index.ids, pairs, method="components")
    assert average[0] != average[4] and components[:5].tolist() == [0] * 5
    assert average[5] == average.max() and components[5] == 1  # the far item is alone


@pytest.mark.parametrize("method", METHODS)
def test_cliques_and_singletons(method: str) -> None:
    ids = ["s0", "a1", "a2", "a3", "s1", "b1", "b2"]
    pairs = pairs_of([("a1", "a2", 0.01), ("a1", "a3", 0.02), ("a2", "a3", 0.01), ("b1", "b2", 0.03)])
    groups = group_pairs(ids, pairs, method=method, max_distance=0.05)
    assert groups.tolist() == [0, 1, 1, 1, 2, 3, 3]  # numbered by first item; singletons alone


def test_average_splits_two_cliques_joined_by_one_pair() -> None:
    ids = list("abcdef")
    rows = [(x, y, 0.01) for x, y in ["ab", "ac", "bc", "de", "df", "ef"]] + [("c", "d", 0.04)]
    pairs = pairs_of(rows)
    assert group_pairs(ids, pairs, max_distance=0.05).tolist() == [0, 0, 0, 1, 1, 1]
    assert group_pairs(ids, pairs, method="components").tolist() == [0] * 6


def test_average_keeps_a_duplicate_group_whole() -> None:
    ids = list(range(6))
    pairs = pairs_of([(i, j, 0.0) for i in range(5) for j in range(i + 1, 5)])
    assert group_pairs(ids, pairs, max_distance=0.0).tolist() == [0, 0, 0, 0, 0, 1]


def test_scores_cut_at_min_score() -> None:
    pairs = pairs_of([("a", "b", 0.3), ("b", "c", 0.3), ("a", "c", 0.3)], scores=[0.95, 0.9, 0.2])
    # by score: a-b and b-c pass 0.85, a-c counts 0.2: the average a/b/c link (0.55 + 0.9...) decides
    groups = group_pairs(["a", "b", "c"], pairs, min_score=0.85)
    assert groups.tolist() == [0, 0, 1]
    assert group_pairs(["a", "b", "c"], pairs, min_score=0.1).tolist() == [0, 0, 0]
    assert group_pairs(["a", "b", "c"], pairs, method="components", min_score=0.85).tolist() == [0, 0, 0]


def test_pairs_beyond_the_threshold_are_ignored() -> None:
    pairs = pairs_of([(1, 2, 0.5), (2, 3, 0.01)])
    for method in METHODS:
        assert group_pairs([1, 2, 3], pairs, method=method, max_distance=0.1).tolist() == [0, 1, 1]


def test_huge_components_fall_back_to_center(monkeypatch, caplog) -> None:
    monkeypatch.setattr(grouping_module, "LINKAGE_MAX_NODES", 3)
    pairs = pairs_of([("a", "b", 0.01), ("b", "c", 0.02), ("c", "d", 0.01), ("x", "y", 0.01)])
    ids = ["a", "b", "c", "d", "x", "y"]
    with caplog.at_level(logging.WARNING):
        groups = group_pairs(ids, pairs, max_distance=0.05)
    assert "grouped by 'center'" in caplog.text
    big = group_pairs(ids[:4], pairs.select([0, 1, 2]), method="center")
    assert groups[:4].tolist() == big.tolist() and groups[4] == groups[5] != groups[0]


def test_planted_copies_are_grouped_with_their_originals(catalogue: npt.NDArray[np.float32]) -> None:
    index = FaissIndex(IndexConfig(factory="Flat")).build(catalogue, np.arange(len(catalogue)))
    pairs = find_duplicates(index, PairFilter(k=10, max_distance=THRESHOLD / 4))
    groups = group_pairs(index.ids, pairs, max_distance=THRESHOLD / 4)
    assert (groups[:N_COPIES] == groups[N_BASE:]).all()
    assert np.bincount(groups).max() <= 4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ConfigError, r"Expected max_distance or min_score .* Received: neither"),
        ({"method": "single"}, ConfigError, r"Expected method in \('average', 'center', 'components'\)"),
        ({"min_score": 0.5}, ConfigError, "Expected scored pairs"),
        ({"min_score": 2.0}, ConfigError, "Expected 0 <= min_score <= 1"),
        ({"max_distance": -1.0}, ConfigError, "Received: max_distance=-1.0"),
    ],
    ids=["no-threshold", "unknown-method", "unscored", "score-range", "negative-distance"],
)
def test_bad_settings(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        group_pairs(CHAIN, CHAIN_PAIRS, **kwargs)


def test_ids_missing_from_the_catalogue() -> None:
    with pytest.raises(
        UnknownIdError, match=r"Expected pair ids of items in the ids\. Received: 1 unknown, first \['e'\]"
    ):
        group_pairs(CHAIN[:4], CHAIN_PAIRS, method="components")


# ---- assign_groups ---------------------------------------------------------------------------

EXISTING = {"a": 0, "b": 0, "c": 3, "d": 3, "e": 7}


def test_a_new_item_linked_to_part_of_a_group_joins_it_only_on_average() -> None:
    pairs = pairs_of([("c", "x", 0.01)])  # x is like c, not found near d: (0.01 + 2 * 0.05) / 2 > 0.05
    assert assign_groups(EXISTING, ["x"], pairs, max_distance=0.05).tolist() == [8]
    assert assign_groups(EXISTING, ["x"], pairs, method="components").tolist() == [3]


def test_new_items_join_linked_groups_and_others_get_fresh_ids() -> None:
    pairs = pairs_of([("a", "x", 0.01), ("b", "x", 0.01), ("y", "z", 0.02), ("e", "w", 0.01)])
    groups = assign_groups(EXISTING, ["x", "y", "z", "w", "v"], pairs, max_distance=0.05)
    assert groups.tolist() == [0, 8, 8, 7, 9]


@pytest.mark.parametrize("method", METHODS)
def test_a_new_item_linking_two_groups_joins_the_best_linked_one(method: str) -> None:
    pairs = pairs_of([("a", "x", 0.04), ("b", "x", 0.04), ("c", "x", 0.01)])
    groups = assign_groups(EXISTING, ["x"], pairs, method=method, max_distance=0.05)
    # average: group 3 links at (0.01 + 0.1) / 2 = 0.055 > 0.05 on average; group 0 at 0.04
    assert groups.tolist() == ([0] if method == "average" else [3])


@pytest.mark.parametrize("method", METHODS)
def test_existing_groups_are_never_merged(method: str) -> None:
    pairs = pairs_of([("a", "x", 0.02), ("c", "x", 0.01), ("x", "y", 0.03), ("c", "y", 0.02)])
    groups = assign_groups({"a": 0, "c": 3}, ["x", "y"], pairs, method=method, max_distance=0.05)
    assert groups.tolist() == [3, 3]  # x bridges both groups: it joins the closer, they stay apart


def test_pairs_between_existing_items_are_ignored() -> None:
    pairs = pairs_of([("a", "e", 0.0), ("e", "x", 0.01)])
    assert assign_groups(EXISTING, ["x"], pairs, max_distance=0.05).tolist() == [7]


def test_array_form_and_no_existing_groups() -> None:
    pairs = pairs_of([(10, 11, 0.01)])
    assert assign_groups(([], []), [10, 11, 12], pairs, max_distance=0.05).tolist() == [0, 0, 1]
    existing = (np.array([1, 2, 3]), np.array([4, 4, 2]))
    pairs = pairs_of([(1, 10, 0.01), (2, 10, 0.02), (11, 3, 0.2)])
    assert assign_groups(existing, [10, 11], pairs, max_distance=0.05).tolist() == [4, 5]


def test_incremental_end_to_end_keeps_group_ids(catalogue: npt.NDArray[np.float32]) -> None:
    ids = np.arange(len(catalogue))
    old, new = ids[:N_BASE], ids[N_BASE:]  # the planted copies arrive later
    index = FaissIndex(IndexConfig(factory="Flat")).build(catalogue[old], old)
    cut = THRESHOLD / 4
    keep = PairFilter(k=10, max_distance=cut)
    old_groups = group_pairs(old, find_duplicates(index, keep), max_distance=cut)
    index.add(catalogue[new], new)
    pairs = find_duplicates(index, PairFilter(k=10, max_distance=cut), query_ids=new)
    new_groups = assign_groups((old, old_groups), new, pairs, max_distance=cut)
    np.testing.assert_array_equal(new_groups, old_groups[:N_COPIES])


@pytest.mark.parametrize(
    ("existing", "new_ids", "pairs", "error", "match"),
    [
        (
            EXISTING,
            ["a"],
            pairs_of([("a", "b", 0.0)]),
            DataError,
            r"Expected new_ids not in the existing groups",
        ),
        (EXISTING, ["x"], pairs_of([("q", "x", 0.0)]), UnknownIdError, r"Received: 1 unknown, first \['q'\]"),
        (
            EXISTING,
            [1],
            pairs_of([(1, 1, 0.0)]),
            DataError,
            r"Expected new_ids of the existing ids' kind \(str\)",
        ),
        (
            ([1, 2], [0]),
            [3],
            pairs_of([(1, 3, 0.0)]),
            DataError,
            "Expected one int group id >= 0 per existing id",
        ),
        ({"a": -1}, ["x"], pairs_of([("a", "x", 0.0)]), DataError, "Expected one int group id >= 0"),
        (
            [("a", 0)],
            ["x"],
            pairs_of([("a", "x", 0.0)]),
            DataError,
            r"Expected existing groups as \{id: group\}",
        ),
    ],
    ids=[
        "new-already-grouped",
        "unknown-pair-id",
        "id-kinds",
        "groups-length",
        "negative-group",
        "bad-container",
    ],
)
def test_assign_groups_bad_input(existing, new_ids, pairs, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        assign_groups(existing, new_ids, pairs, max_distance=0.05)
