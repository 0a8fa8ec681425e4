"""Held-out candidate pairs (`models.candidates`): mined neighbours against a brute-force oracle,
labelled by the closure of the labelled matches; how they change the choice of tower and the
thresholds (SYNTHETIC embeddings and titles)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.evaluation.metrics import precision_curve, separating_threshold, threshold_for_precision
from simsearch.models.callbacks import PairValidation
from simsearch.models.candidates import CandidateMiner, HeldOutCandidates, concat_pairs, union_pairs
from simsearch.models.fitting import entity_labels
from simsearch.models.head_training import calibrate, choose_threshold
from simsearch.models.recipe import Built, choose_on_held_out
from simsearch.models.selection import Selection, describe
from simsearch.train_config import TrainConfig


def _oracle(
    x: np.ndarray, queries: np.ndarray, base: np.ndarray, k: int, entity: np.ndarray, known: Pairs
) -> set[tuple[int, int, int]]:
    """Brute-force cosine k nearest neighbours, as unordered labelled pairs, known pairs left out."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    known_keys = {tuple(sorted(p)) for p in zip(known.left.tolist(), known.right.tolist(), strict=True)}
    out = set()
    for q in queries:
        others = base[base != q]
        order = others[np.argsort(-(unit[others] @ unit[q]), kind="stable")][:k]
        for n in order:
            key = tuple(sorted((int(q), int(n))))
            if key not in known_keys:
                same = int(entity[q] >= 0 and entity[q] == entity[n])
                out.add((*key, same))
    return out


def _as_set(pairs: Pairs) -> set[tuple[int, int, int]]:
    return {
        (min(a, b), max(a, b), int(s))
        for a, b, s in zip(pairs.left.tolist(), pairs.right.tolist(), pairs.same.tolist(), strict=True)
    }


@pytest.fixture
def chain() -> tuple[np.ndarray, Pairs, Pairs]:
    """12 SYNTHETIC items in 2-d: entity {0, 1, 2} linked as a chain 0-1 (training), 1-2
    (held out), singletons elsewhere; held-out pairs (1, 2, 1) and (1, 9, 0)."""
    angles = np.array([0.0, 0.05, 0.1, 0.12, 1.0, 1.05, 2.0, 2.02, 3.0, 3.1, 4.0, 5.0])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    train = Pairs(np.array([0, 4]), np.array([1, 7]), np.array([1, 0]))
    held = Pairs(np.array([1, 1]), np.array([2, 9]), np.array([1, 0]))
    return x, train, held


def test_mined_pairs_match_brute_force_and_the_closure(chain: tuple[np.ndarray, Pairs, Pairs]) -> None:
    x, train, held = chain
    labelled = concat_pairs(train, held)
    entity = entity_labels(len(x), labelled)
    miner = CandidateMiner.for_pairs(len(x), labelled, held, entity, k=3)
    mined = miner.mine(x, "cosine")
    expected = _oracle(x, np.array([1, 2, 9]), np.arange(len(x)), 3, entity, labelled)
    assert _as_set(mined) == expected
    # 0-2 is linked only through 0-1 (training) and 1-2 (held out): a mined positive.
    assert (0, 2, 1) in expected
    # 3 sits between 2 and 4, linked to nothing: a mined negative of 1 and 2.
    assert (2, 3, 0) in expected and (1, 3, 0) in expected
    # Labelled pairs are never mined again.
    assert not {(0, 1), (1, 2), (1, 9)} & {(a, b) for a, b, _ in expected}


def test_no_mined_negatives_keeps_the_positives(chain: tuple[np.ndarray, Pairs, Pairs]) -> None:
    x, train, held = chain
    labelled = concat_pairs(train, held)
    entity = entity_labels(len(x), labelled)
    kept = CandidateMiner.for_pairs(len(x), labelled, held, entity, k=3, negatives=False).mine(x, "cosine")
    every = CandidateMiner.for_pairs(len(x), labelled, held, entity, k=3).mine(x, "cosine")
    assert _as_set(kept) == {p for p in _as_set(every) if p[2] == 1} != set()
    assert (kept.same == 1).all()


def test_two_catalogues_search_the_first_with_the_second(chain: tuple[np.ndarray, Pairs, Pairs]) -> None:
    x, train, held = chain
    # The second catalogue starts at row 2: held-out items 2 and 9 search rows 0 and 1 only.
    labelled = concat_pairs(train, held)
    entity = entity_labels(len(x), labelled)
    miner = CandidateMiner.for_pairs(len(x), labelled, held, entity, second_catalogue=2, k=5)
    assert miner.queries.tolist() == [2, 9] and miner.base.tolist() == [0, 1]
    mined = miner.mine(x, "cosine")
    # 2-1 and 9-1 are labelled; 2-0 (linked through 1) and 9-0 (not) remain.
    assert _as_set(mined) == {(0, 2, 1), (0, 9, 0)}


def test_union_keeps_each_unordered_pair_once() -> None:
    a = Pairs(np.array([1, 2]), np.array([2, 3]), np.array([1, 0]))
    b = Pairs(np.array([2, 4]), np.array([1, 1]), np.array([1, 0]))
    assert _as_set(union_pairs(a, b)) == {(1, 2, 1), (2, 3, 0), (1, 4, 0)}
    assert len(union_pairs(a, b)) == 3


def test_gap_midpoint_on_perfectly_separated_pairs() -> None:
    same = np.array([1, 1, 1, 0, 0], np.int8)
    distances = np.array([0.1, 0.2, 0.3, 0.6, 0.7], np.float32)
    # Best F1 alone takes the gap's edge (the furthest positive, 0.3); the midpoint is 0.45.
    assert separating_threshold(same, -distances) == pytest.approx(-0.45)
    assert -choose_threshold(same, -distances) == pytest.approx(0.45)
    threshold, _ = calibrate(distances, 1.0 - distances, same)
    assert threshold["distance"] == pytest.approx(0.45)
    assert threshold["probability"] == pytest.approx(0.55)
    assert threshold["criterion"] == "best_f1, midpoint of the gap"
    # --min-precision reads the stored curve as before: the loosest stored threshold at precision
    # 1.0 is the furthest positive, resolved by the next looser row (the nearest negative).
    assert threshold_for_precision(threshold["curves"]["distance"], 1.0) == pytest.approx(0.3)
    assert threshold["curves"]["distance"] == [[-t, p, r] for t, p, r in precision_curve(same, -distances)]
    # Overlapping pairs: best F1 as before, one of the scores.
    overlap = np.array([0.1, 0.65, 0.3, 0.6, 0.7], np.float32)
    assert separating_threshold(same, -overlap) is None
    assert -choose_threshold(same, -overlap) == pytest.approx(0.65)  # F1 6/7 against 4/5 at 0.3


def _groups(n_groups: int, twin: float, confuser: float) -> np.ndarray:
    """SYNTHETIC unit embeddings: per group a record, its twin (`twin` off) and an unlinked
    confuser (`confuser` off); groups in random 64-d directions, nearly orthogonal."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n_groups, 64))
    offsets = rng.normal(size=(n_groups, 2, 64)) / 8
    rows = np.stack([centres, centres + twin * offsets[:, 0], centres + confuser * offsets[:, 1]], 1)
    x = rows.reshape(-1, 64).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _fixed_tower(embeddings: np.ndarray) -> keras.Model:
    """A tower over one-hot rows whose output is `embeddings` (a linear layer holding them)."""
    n, dim = embeddings.shape
    tower = keras.Sequential([keras.Input((n,)), keras.layers.Dense(dim, use_bias=False)])
    tower.set_weights([embeddings])
    return tower


def test_mined_candidates_change_the_choice_of_tower() -> None:
    """Both towers separate the user's held-out pairs perfectly (a tie keeps the simpler start
    state); among the held-out items' neighbours the start state puts unlinked confusers nearer
    than the twins, the trained one does not: on the candidates it is chosen."""
    n_groups = 32
    start = _groups(n_groups, twin=0.6, confuser=0.1)
    trained = _groups(n_groups, twin=0.1, confuser=0.6)
    twins = np.arange(n_groups) * 3
    train_rows, held_rows = twins[: n_groups // 2], twins[n_groups // 2 :]

    def pairs_of(rows: np.ndarray) -> Pairs:  # twins, and each record against the next group's twin
        far = np.roll(rows, 1) + 1
        same = np.r_[np.ones(len(rows)), np.zeros(len(rows))].astype(np.int8)
        return Pairs(np.r_[rows, rows], np.r_[rows + 1, far], same)

    train, held = pairs_of(train_rows), pairs_of(held_rows)
    n = 3 * n_groups
    catalog = Items(ids=np.arange(n), labels=np.full(n, -1), classes=(), fields={"t": np.arange(n)})
    x = np.eye(3 * n_groups, dtype=np.float32)
    tower = _fixed_tower(start)
    built = Built("text", tower, {}, {})
    initial, trained_weights = [start], [trained]

    def choice(held_out: Pairs) -> Selection:
        validation = PairValidation(tower, x, held_out)
        tower.set_weights(initial)
        before = validation.measure()
        tower.set_weights(trained_weights)
        after = validation.measure()["val_average_precision"]
        selection = Selection("given", len(held_out), "val_average_precision")
        choose_on_held_out(
            selection, built, initial, before, {"val_average_precision": [after]}, validation,
            baseline=lambda: None,
        )  # fmt: skip
        return selection

    user_only = choice(held)
    assert user_only.scores == {"baseline": 1.0, "trained": 1.0}
    assert user_only.chosen == "baseline"

    candidates = HeldOutCandidates.of(catalog, train, held, TrainConfig(candidate_k=2))
    tower.set_weights(initial)
    candidates.mine("start", tower, x, "cosine")
    tower.set_weights(trained_weights)
    candidates.mine("trained", tower, x, "cosine")
    counts = candidates.counts()
    assert counts["user_pairs"] == len(held) and counts["mined_negatives"] > 0
    with_mined = choice(candidates.pairs())
    assert with_mined.scores["baseline"] < 0.9 and with_mined.scores["trained"] == 1.0
    assert with_mined.chosen == "trained" and with_mined.p_value is not None and with_mined.p_value < 0.05
    with_mined.held_out = counts
    line = describe(with_mined.as_config())
    assert f"{len(held)} user pairs, {counts['mined_positives']} mined positives, " in line
    assert f"{counts['mined_negatives']} mined negatives" in line
