"""The fold loop and the cross-validated choice, on a scripted plan: each fold's held-out score
after each epoch is written beforehand, so the chosen epoch count and candidate are known."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from simsearch.data.items import Items
from simsearch.models.callbacks import Outcomes
from simsearch.models.cross_validation import FoldPlan, cross_validate, run_folds
from simsearch.models.recipe import Built
from simsearch.train_config import TrainConfig


class FakeTower:
    """Stands in for a Keras tower: its weights are a list holding the epochs trained."""

    def __init__(self, trainable: bool = True) -> None:
        self.weights: list[Any] = [0]
        self.trainable_weights = [0] if trainable else []

    def get_weights(self) -> list[Any]:
        return list(self.weights)

    def set_weights(self, weights: list[Any]) -> None:
        self.weights = list(weights)


class FakeBuilt(Built):
    def inputs(self, items: Items) -> Any:
        return None


def _built(trainable: bool = True) -> Built:
    return FakeBuilt("text", FakeTower(trainable), {}, {})  # type: ignore[arg-type]


class FakeValidation:
    def __init__(self, tower: FakeTower, score: list[float]) -> None:
        self.tower, self.score, self.seen = tower, score, []

    def measure(self) -> None:
        self.seen.append(self.score[self.tower.weights[0]])


class ScriptedFolds(FoldPlan[float]):
    """`curves[f][e]`: fold f's held-out score after e epochs; fitting appends them; the
    baseline scores `baseline` in every fold."""

    def __init__(self, curves: list[list[float]], baseline: float) -> None:
        items = Items(ids=np.arange(10), labels=np.full(10, -1), classes=(), fields={"t": np.full(10, "x")})
        folds = [np.array([2 * f, 2 * f + 1]) for f in range(len(curves))]
        super().__init__(items, folds, 10, "val_average_precision")
        self.curves, self.baseline = curves, baseline
        self.refits: list[tuple[Any, int | None, list[Any]]] = []

    def validation(self, built: Built, x: Any, rows: Any) -> FakeValidation:
        fold = int(rows[0]) // 2
        score = self.curves[fold] if built.tower.trainable_weights else [self.baseline]
        return FakeValidation(built.tower, score)

    def measured(self, validation: Any) -> list[float]:
        return validation.seen

    def fit(
        self, built: Built, x: Any, rows: Any, config: TrainConfig, validation: Any, epochs: int | None = None
    ) -> dict[str, list[float]]:
        if validation is None:  # the final training on every fold
            self.refits.append((rows, epochs, built.tower.get_weights()))
            return {"loss": [1.0] * int(epochs or 0)}
        assert len(rows) == 8 and built.tower.weights == [0]  # the other folds, from the start
        for epoch in range(1, min(config.epochs, len(validation.score) - 1) + 1):
            built.tower.weights = [epoch]
            validation.measure()
        return {}

    def fold_score(self, rows: Any, measurement: float) -> float:
        return measurement

    def score(self, per_fold: list[float]) -> float:
        return float(np.mean(per_fold))

    def outcomes(self, per_fold: list[float]) -> Outcomes | None:
        return None  # not measurable per unit: the scores decide

    def interval(self, per_fold: list[float], value: float) -> tuple[float, float] | None:
        return (min(per_fold), max(per_fold))

    def threshold(self, per_fold: list[float], metric: str, criterion: str) -> dict[str, Any]:
        return {}


CURVES = [[0.5, 0.6, 0.8, 0.7], [0.5, 0.7, 0.9, 0.8], [0.6, 0.6, 0.7, 0.9]]  # mean best at 2


def test_every_fold_starts_from_the_initial_weights_and_pads_an_early_stop() -> None:
    curves = [*CURVES, [0.4, 0.5]]  # the fourth fold stops after one epoch
    plan = ScriptedFolds(curves, baseline=0.0)
    measured = run_folds(plan, _built(), None, TrainConfig(epochs=3))
    assert measured == [*CURVES, [0.4, 0.5, 0.5, 0.5]]


def test_the_best_mean_epoch_count_is_retrained_on_every_fold() -> None:
    plan = ScriptedFolds(CURVES, baseline=0.1)
    built = _built()
    chosen = cross_validate(plan, built, lambda: _built(trainable=False), TrainConfig(epochs=3))
    selection = chosen.selection
    expected = {
        "baseline": pytest.approx(0.1),
        "initial": pytest.approx(np.mean([c[0] for c in CURVES])),
        "trained": pytest.approx(np.mean([c[2] for c in CURVES])),
    }
    assert selection.scores == expected
    assert (selection.chosen, selection.epochs, selection.folds, selection.n) == ("trained", 2, 3, 6)
    assert plan.refits == [(None, 2, [0])]  # all the data, 2 epochs, from the initial weights
    assert chosen.built is built and chosen.history == {"loss": [1.0, 1.0]}
    assert chosen.held_out == [c[2] for c in CURVES]
    assert selection.interval == (0.7, 0.9)


def test_a_baseline_that_wins_is_saved_untrained() -> None:
    plan = ScriptedFolds(CURVES, baseline=0.95)
    baseline = _built(trainable=False)
    chosen = cross_validate(plan, _built(), lambda: baseline, TrainConfig(epochs=3))
    assert chosen.selection.chosen == "baseline"
    assert chosen.built is baseline and chosen.history == {} and plan.refits == []
    assert chosen.held_out == [0.95] * 3


def test_without_keep_baseline_at_least_one_epoch_is_trained() -> None:
    curves = [[0.9, 0.5, 0.6], [0.9, 0.6, 0.5]]  # the start is best; epoch 1 and 2 tie
    plan = ScriptedFolds(curves, baseline=0.0)
    chosen = cross_validate(plan, _built(), lambda: None, TrainConfig(epochs=2, keep_baseline=False))
    assert (chosen.selection.chosen, chosen.selection.epochs) == ("trained", 1)
    assert list(chosen.selection.scores) == ["baseline", "trained"]  # the start state is the baseline
