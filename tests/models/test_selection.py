"""The baseline as a training candidate: choosing, folds, intervals, and train_* keeping it."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs
from simsearch.models.callbacks import Outcomes, pair_outcomes
from simsearch.models.selection import (
    Selection,
    baseline_settings,
    bootstrap_interval,
    candidates,
    choose,
    choose_significant,
    describe,
    item_folds,
    pair_folds,
    paired_p_value,
    select,
)
from simsearch.models.training import train_items, train_pairs
from simsearch.train_config import TrainConfig


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        pytest.param({"baseline": 0.8, "trained": 0.9}, "trained", id="trained-wins"),
        pytest.param({"baseline": 0.8, "trained": 0.8}, "baseline", id="tie-keeps-baseline"),
        pytest.param({"baseline": 0.8, "initial": 0.85, "trained": 0.84}, "initial", id="initial"),
        pytest.param({"baseline": 0.9, "initial": 0.5, "trained": 0.7}, "baseline", id="baseline"),
        pytest.param({"baseline": float("nan"), "trained": 0.1}, "trained", id="nan-never-wins"),
    ],
)
def test_choose_keeps_the_simplest_best_candidate(scores: dict[str, float], expected: str) -> None:
    assert choose(scores) == expected


def test_choose_minimises_losses() -> None:
    assert choose({"baseline": 0.5, "trained": 0.4}, mode="min") == "trained"


@pytest.mark.parametrize(
    ("kind", "settings", "expected"),
    [
        pytest.param("image", {}, {"architecture": "pixels", "normalize": False}, id="light-image"),
        pytest.param("image", {"architecture": "pixels"}, None, id="pixels-is-its-own"),
        pytest.param("text", {}, None, id="linear-text-default"),
        pytest.param("text", {"architecture": "sequence"}, {"architecture": "linear"}, id="sequence"),
        pytest.param(
            "record",
            {"architecture": "mlp", "text_fields": ["name"], "hidden": 8},
            {"architecture": "linear", "text_fields": ["name"]},
            id="mlp-record",
        ),
    ],
)
def test_baseline_settings(kind: str, settings: dict, expected: dict | None) -> None:
    assert baseline_settings(kind, settings) == expected


def test_pair_folds_cover_the_pairs_once_and_share_each_label() -> None:
    same = np.r_[np.ones(12), np.zeros(38)].astype(np.int8)
    pairs = Pairs(np.arange(50), np.arange(50), same)
    folds = pair_folds(pairs, 5, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(50))
    assert all(int(same[f].sum()) in (2, 3) for f in folds)
    assert all(len(f) == 10 for f in folds)


def test_bootstrap_interval_brackets_the_value() -> None:
    rng = np.random.default_rng(0)
    same = rng.integers(0, 2, 400).astype(np.int8)
    score = same + rng.normal(0, 0.8, 400).astype(np.float32)
    pairs = Pairs(np.arange(400), np.arange(400), same)

    def accuracy(p: Pairs, s: np.ndarray) -> float:
        return float(np.mean((s > 0.5) == (p.same == 1)))

    low, high = bootstrap_interval(accuracy, pairs, score)
    assert low < accuracy(pairs, score) < high
    assert high - low < 0.15


def _hits(values: np.ndarray) -> Outcomes:
    return Outcomes(len(values), lambda rows: float(values[rows].mean()))


def test_paired_p_value_against_mcnemar() -> None:
    """On per-query hits the paired bootstrap agrees with McNemar's exact test (the oracle):
    20 queries won and 2 lost of 400 is significant, 3 won and 1 lost is not."""
    from simsearch.models.head_training import mcnemar_p_value

    base = np.zeros(400, bool)
    base[:300] = True
    clear, slight = base.copy(), base.copy()
    clear[300:320] = True
    clear[:2] = False
    slight[300:303] = True
    slight[:1] = False
    assert mcnemar_p_value(20, 2) < 0.01 and mcnemar_p_value(3, 1) > 0.3
    assert paired_p_value(_hits(clear), _hits(base)) < 0.01
    assert paired_p_value(_hits(slight), _hits(base)) > 0.1
    assert paired_p_value(_hits(base), _hits(base)) == 1.0  # equal is never better
    with pytest.raises(ValueError, match="same units"):
        paired_p_value(_hits(base), _hits(base[:10]))


def test_paired_p_value_on_pairs_and_loss_metrics() -> None:
    rng = np.random.default_rng(0)
    same = rng.integers(0, 2, 300).astype(np.int8)
    pairs = Pairs(np.arange(300), np.arange(300), same)
    noisy = (same + rng.normal(0, 1.5, 300)).astype(np.float32)
    sharp = (same + rng.normal(0, 0.3, 300)).astype(np.float32)
    ap_sharp, ap_noisy = (pair_outcomes(pairs, s, "val_average_precision") for s in (sharp, noisy))
    assert ap_sharp is not None and ap_noisy is not None
    assert paired_p_value(ap_sharp, ap_noisy) < 0.01
    assert paired_p_value(ap_noisy, ap_sharp) > 0.99
    assert paired_p_value(ap_noisy, ap_sharp, mode="min") < 0.01
    assert pair_outcomes(pairs, sharp, "val_oneshot") is None


def test_choose_significant_needs_each_step_to_be_significant() -> None:
    """initial must beat baseline significantly before trained is tested against it: a noisy
    start state that scored higher on 10 queries does not replace the baseline."""
    base = np.zeros(10, bool)
    base[:8] = True
    lucky = base.copy()
    lucky[8] = True  # one query more
    clear = np.zeros(400, bool)
    clear[:380] = True
    outcomes = {"baseline": _hits(base), "initial": _hits(lucky), "trained": _hits(np.ones(10, bool))}
    scores = {name: float(o.stat(np.arange(10))) for name, o in outcomes.items()}
    chosen, p, against = choose_significant(scores, outcomes.get)
    assert (chosen, against) == ("baseline", "baseline") and p is not None and p > 0.05
    many = {"baseline": _hits(np.zeros(400, bool)), "initial": _hits(clear), "trained": _hits(clear)}
    chosen, p, against = choose_significant({"baseline": 0.0, "initial": 0.95, "trained": 0.95}, many.get)
    assert (chosen, against) == ("initial", "baseline") and p is not None and p < 0.01
    assert choose_significant({"baseline": 0.5, "trained": 0.9}, lambda name: None)[0] == "trained"


@pytest.mark.parametrize(
    ("baseline", "trained", "trainable", "expected"),
    [
        pytest.param(None, 0.9, True, {"baseline": 0.5, "trained": 0.9}, id="starts-as-its-baseline"),
        pytest.param(0.7, 0.9, True, {"baseline": 0.7, "initial": 0.5, "trained": 0.9}, id="own-baseline"),
        pytest.param(0.7, None, False, {"baseline": 0.7}, id="nothing-to-train"),
    ],
)
def test_candidates_name_what_each_state_measured(
    baseline: float | None, trained: float | None, trainable: bool, expected: dict[str, float]
) -> None:
    measured = candidates(0.5, trained, baseline, trainable=trainable)
    assert measured == expected
    assert list(measured) == [name for name in ("baseline", "initial", "trained") if name in expected]


def _per_query(hits: np.ndarray) -> Outcomes:
    return Outcomes(len(hits), lambda rows: float(hits[rows].mean()))


def test_select_keeps_the_start_state_unless_training_wins_significantly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 100 queries: trained hits 2 more than the baseline (not significant), 30 more (significant).
    base = np.r_[np.ones(50), np.zeros(50)].astype(bool)
    near, far = base.copy(), base.copy()
    near[50:52], far[50:80] = True, True
    for trained, chosen in ((near, "baseline"), (far, "trained")):
        hits = {"baseline": base, "trained": trained}
        selection = Selection("items", 100, "val_precision_at_1", {k: v.mean() for k, v in hits.items()})
        with caplog.at_level("WARNING", logger="simsearch.models.selection"):
            caplog.clear()
            select(selection, lambda name, h=hits: _per_query(h[name]), keep_baseline=True,
                   where="held-out data", trained_best=float(trained.mean()))  # fmt: skip
        assert (selection.chosen, selection.rival) == (chosen, "baseline")
        expected_p = paired_p_value(_per_query(trained), _per_query(base))
        assert selection.p_value == pytest.approx(expected_p)
        kept = [r.getMessage() for r in caplog.records]
        assert bool(kept) == (chosen == "baseline")
        assert all("significantly beat the non-learned baseline on held-out data" in m for m in kept)


def test_select_without_keep_baseline_saves_the_trained_tower() -> None:
    scores = {"baseline": 0.9, "initial": 0.8, "trained": 0.1}
    selection = Selection("pairs", 10, "val_loss", dict(scores))
    select(selection, lambda name: None, keep_baseline=False, where="x", trained_best=0.1)
    assert (selection.chosen, selection.p_value) == ("trained", None)
    untrained = Selection("pairs", 10, "val_loss", {"baseline": 0.9, "initial": 0.8})
    select(untrained, lambda name: None, keep_baseline=False, where="x", trained_best=float("nan"))
    assert untrained.chosen == "initial"  # a loss: lower is better


def test_describe_says_why_the_baseline_stays() -> None:
    validation = {"split": "pairs", "n": 120, "metric": "val_average_precision", "chosen": "baseline"}
    validation |= {"scores": {"baseline": 0.80, "trained": 0.81}, "p_value": 0.31, "rival": "baseline"}
    line = describe(validation)
    assert "not significant (paired bootstrap p=0.310)" in line and "baseline is saved" in line


def _titles() -> list[str]:
    # SYNTHETIC catalogue: product-like titles, each with a typo twin.
    brands = ["sony", "canon", "nikon", "apple", "dell", "asus", "lg", "bose", "jbl", "acer"]
    kinds = ["camera", "laptop", "speaker", "monitor", "phone", "tablet"]
    return [f"{b} {k} model {i}{j}" for i, b in enumerate(brands) for j, k in enumerate(kinds)]


def test_small_pair_sets_are_cross_validated_and_never_lose_to_tfidf() -> None:
    titles = _titles()
    twins = [t.replace("model", "modle") for t in titles]
    n = len(titles)
    catalog = Items(
        ids=np.arange(2 * n).astype(str), labels=np.full(2 * n, -1), classes=(),
        fields={"title": np.array(titles + twins, dtype=object)},
    )  # fmt: skip
    rng = np.random.default_rng(0)
    left = np.r_[np.arange(n), np.arange(n)]
    right = np.r_[np.arange(n) + n, (np.arange(n) + rng.integers(1, n, n)) % n + n]
    pairs = Pairs(left, right, np.r_[np.ones(n), np.zeros(n)].astype(np.int8))
    config = TrainConfig(loss="bce", epochs=3, steps_per_epoch=2, batch_size=32, verbose=0)
    model = train_pairs(catalog, pairs, tower="text", tower_settings={"embedding_dim": 64}, config=config)
    validation = model.config["validation"]
    assert validation["split"] == "cross-validation"
    assert (validation["folds"], validation["n"]) == (5, 2 * n)
    assert validation["scores"]["baseline"] <= validation["value"]
    assert validation["chosen"] in ("baseline", "trained")
    assert validation["interval95"][0] <= validation["value"] <= validation["interval95"][1]
    assert model.config["head"]["decides"] is False
    assert model.threshold["probability"] is None and model.threshold["distance"] > 0


def test_few_items_are_cross_validated_and_keep_pixels_when_training_loses() -> None:
    # SYNTHETIC images: 3 classes of noisy bars; a 1-epoch conv tower cannot beat raw pixels.
    rng = np.random.default_rng(0)
    images, labels = [], []
    for label in range(3):
        for _ in range(12):
            image = rng.integers(0, 40, (16, 16)).astype(np.uint8)
            image[:, 4 * label : 4 * label + 4] = 250
            images.append(image[..., None])
            labels.append(label)
    items = Items(
        ids=np.arange(36).astype(str), labels=np.array(labels), classes=("a", "b", "c"),
        images=np.stack(images),
    )  # fmt: skip
    config = TrainConfig(loss="softmax", epochs=1, steps_per_epoch=1, batch_size=128, head_epochs=1,
                         augment=False, verbose=0)  # fmt: skip
    model = train_items(items, tower="image", tower_settings={"blocks": 1, "filters": 2}, config=config)
    validation = model.config["validation"]
    assert (validation["split"], validation["n"], validation["folds"]) == ("item-cross-validation", 36, 5)
    # an episode holds at most a fold's training items (4/5 of 36), not 128 repeats of them
    assert model.config["training"]["batch_size"] == 29
    # `--max-far`'s curve: every held-out item against its fold's training items
    y = np.array(labels)
    genuine = impostor = 0
    for rows in item_folds(y, 5, config.seed):
        train = np.setdiff1d(np.arange(36), rows)
        same = y[rows][:, None] == y[train][None, :]
        genuine, impostor = genuine + int(same.sum()), impostor + int((~same).sum())
    far = model.calibration["far"]
    assert (far["n_genuine"], far["n_impostor"]) == (genuine, impostor)
    assert far["rows"][0][1] == 0.0  # the first row accepts no impostor pair
    assert validation["scores"]["baseline"] == 1.0  # the bars are apart in pixel space
    assert validation["chosen"] == "baseline"
    assert model.config["tower_settings"]["architecture"] == "pixels"
    assert model.metric == "l2"  # nearest neighbour on raw pixels, by Euclidean distance
    assert model.dim == 16 * 16
