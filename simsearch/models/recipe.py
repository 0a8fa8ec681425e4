"""The training recipe's steps that every training path shares: build the tower, choose it on a
held-out set, and write the saved model's config.

A training path (`training.train_items`, `training.train_pairs` and the cross-validated ones in
`small_data`) composes the steps:

1. build: `build` the tower (and, when it is not its own baseline, `build_baseline`);
2. fit: `fitting.fit_items` or `fitting.fit_pairs` (`keras.Model.fit` does the work);
3. choose: `selection.select` among baseline, start state and trained tower, fed by
   `choose_on_held_out` (one held-out set) or `cross_validation.cross_validate` (folds);
4. calibrate: `calibration` fits the head and calibrates the thresholds on held-out data (or
   calibrates the distance alone, `calibration.untrained_head`, with too little data);
5. write the config: `finish` returns the `SiameseModel` with its `config.json` settings.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.errors import DataError
from simsearch.models.callbacks import Outcomes, PairValidation, pair_validation_metrics
from simsearch.models.inputs import prepare_inputs
from simsearch.models.selection import (
    Selection,
    baseline_settings,
    best_of,
    bootstrap_interval,
    candidates,
    interval_for,
    metric_of,
    mode_of,
    select,
)
from simsearch.models.siamese import SiameseModel
from simsearch.models.tower_factory import build_tower
from simsearch.tower_kinds import tower_kind
from simsearch.train_config import TrainConfig

__all__ = [
    "Built",
    "build",
    "build_baseline",
    "check_tower",
    "choose_on_held_out",
    "encode",
    "finish",
    "model_config",
    "n_classes",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Built:
    """A tower as built for training: the Keras model, its input spec and its settings."""

    kind: str
    tower: keras.Model
    spec: dict[str, Any]
    settings: dict[str, Any]

    @property
    def metric(self) -> str:
        """The search metric: cosine when the tower L2-normalises, else l2."""
        return metric_of(self.settings)

    @property
    def dim(self) -> int:
        """The embedding width, as the tower outputs it (a hybrid record tower's is the sum of
        its parts', not its `embedding_dim`)."""
        return int(self.tower.output_shape[-1])

    def inputs(self, items: Items) -> Any:
        """The tower's inputs for `items`."""
        return prepare_inputs(items.content(), self.kind, self.spec)


def build(kind: str, items: Items, settings: dict[str, Any]) -> Built:
    """Build the `kind` tower for `items` (`tower_factory.build_tower`)."""
    return Built(kind, *build_tower(kind, items, settings))


def build_baseline(kind: str, items: Items, settings: dict[str, Any]) -> Built | None:
    """The non-learned baseline of the tower built from `settings`, or None when that tower
    starts as its baseline (`selection.baseline_settings`)."""
    own = baseline_settings(kind, settings)
    return None if own is None else build(kind, items, own)


def check_tower(kind: str, items: Items) -> None:
    """Fail clearly on an unknown tower kind, or items the tower cannot read."""
    is_image = tower_kind(kind).is_image
    if is_image != (items.images is not None):
        have = "images" if items.images is not None else f"fields {sorted(items.fields)}"
        wanted = "images" if is_image else "text or record fields"
        raise DataError(f"Expected {wanted} for the {kind} tower. Received: {have}")


def encode(tower: keras.Model, x: Any) -> npt.NDArray[np.float32]:
    """`(n, dim) float32` embeddings of the inputs `x`."""
    return np.asarray(tower.predict(x, batch_size=512, verbose=0), dtype=np.float32)


def n_classes(labels: npt.NDArray[np.int64]) -> int:
    """The number of classes among labelled items (label >= 0)."""
    return len(np.unique(labels[labels >= 0]))


def choose_on_held_out(
    selection: Selection,
    built: Built,
    initial: list[Any],
    start: dict[str, float],
    history: dict[str, list[float]],
    validation: Any,
    *,
    baseline: Callable[[], Built | None],
    keep_baseline: bool = True,
) -> Built:
    """Keep the best of baseline, start state (`initial` weights, `start` metrics) and trained
    tower on the held-out data of `validation` (`selection.select`); fills `selection` and
    returns the tower to save. `baseline` builds the baseline when the tower is not its own."""
    monitor = selection.metric
    rival = baseline()
    baseline_score = None
    if rival is not None:
        with _measured_by(validation, rival.metric):
            baseline_score = validation.measure(rival.tower).get(monitor, float("nan"))
    trained = best_of(history[monitor], mode_of(monitor)) if history.get(monitor) else None
    trainable = bool(built.tower.trainable_weights)
    selection.scores = candidates(
        start.get(monitor, float("nan")), trained, baseline_score, trainable=trainable
    )
    trained_weights = built.tower.get_weights()
    outcomes = _held_out_outcomes(validation, built.tower, initial, trained_weights, rival, monitor)
    trained_score = selection.scores.get("trained", float("nan"))
    select(
        selection, outcomes, keep_baseline=keep_baseline, where="held-out data", trained_best=trained_score
    )
    built.tower.set_weights(trained_weights)
    if selection.chosen == "baseline" and rival is not None:
        built = rival
    elif selection.chosen != "trained":
        built.tower.set_weights(initial)
    if selection.interval is None:
        value = selection.scores.get(selection.chosen, float("nan"))
        selection.interval = _interval(validation, built.tower, monitor, value)
    return built


def _held_out_outcomes(
    validation: Any,
    tower: keras.Model,
    initial: list[Any],
    trained_weights: list[Any],
    rival: Built | None,
    monitor: str,
) -> Callable[[str], Outcomes | None]:
    """Each candidate measured per held-out unit on `validation` (the baseline tower, the tower
    with its initial weights, the trained one), measured once when first asked for."""
    cache: dict[str, Outcomes | None] = {}

    def outcomes(name: str) -> Outcomes | None:
        if name not in cache:
            if name == "baseline" and rival is not None:
                with _measured_by(validation, rival.metric):
                    cache[name] = validation.outcomes(rival.tower, monitor)
            else:  # the start state (the baseline itself when the tower starts as it)
                tower.set_weights(trained_weights if name == "trained" else initial)
                cache[name] = validation.outcomes(tower, monitor)
        return cache[name]

    return outcomes


@contextlib.contextmanager
def _measured_by(validation: Any, metric: str) -> Iterator[None]:
    """Measure with `metric` (a candidate's own: the raw-pixel baseline's is l2) for a while."""
    saved = validation.metric
    validation.metric = metric
    try:
        yield
    finally:
        validation.metric = saved


def _interval(validation: Any, tower: keras.Model, monitor: str, value: float) -> tuple[float, float] | None:
    """95% interval of the saved tower's held-out `monitor`: bootstrap over the pairs, or
    Wilson over the queries."""
    if isinstance(validation, PairValidation):
        return bootstrap_interval(
            lambda p, s: pair_validation_metrics(p, s).get(monitor, float("nan")),
            validation.pairs,
            validation.similarities(tower),
        )
    n = validation.n_trials if "oneshot" in monitor else validation.n_queries
    return interval_for(monitor, value, n)


def model_config(
    built: Built,
    config: TrainConfig,
    threshold: dict[str, Any],
    head_summary: dict[str, Any],
    history: dict[str, list[float]],
) -> dict[str, Any]:
    """The settings `config.json` records: the tower, its thresholds and head, the training."""
    return {
        "kind": built.kind,
        "inputs": built.spec,
        "tower_settings": built.settings,
        "dim": built.dim,
        "metric": built.metric,
        "threshold": threshold,
        "head": head_summary,
        "training": {k: v for k, v in dataclasses.asdict(config).items() if k != "verbose"},
        "epochs_run": len(history.get("loss", [])),
    }


def finish(
    built: Built,
    head: keras.Model,
    config: TrainConfig,
    threshold: dict[str, Any],
    head_summary: dict[str, Any],
    history: dict[str, list[float]],
    selection: Selection,
    data: dict[str, Any],
) -> SiameseModel:
    """The trained `SiameseModel`: its config records `data` (what it was trained and
    validated on: `{"classes": ...}` or `{"pairs": ...}`) and the `selection`."""
    config_out = model_config(built, config, threshold, head_summary, history)
    config_out.update(data)
    config_out["validation"] = selection.as_config()
    return SiameseModel(built.tower, head, config_out, history)
