"""The recipe's fit step: train a tower with the configured loss; `keras.Model.fit` does the work.

`fit_items` trains on labelled items (P×K episodes for the batch losses, pairs drawn from the
labels for the pair losses); `fit_pairs` on labelled pairs (the batch losses over the entities
the positive pairs link, `entity_labels`; the supervised contrastive loss over their match
clusters, each batch holding clusters with their labelled non-matches, `data.clusters`). Both
early-stop on a validation callback when given one, else run a fixed number of epochs.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.pairs import Pairs, make_pairs
from simsearch.evaluation.evaluate import pair_distances
from simsearch.models.callbacks import take_rows
from simsearch.models.head import build_head_model
from simsearch.models.layers import RandomAffine
from simsearch.models.losses import (
    ContrastiveLoss,
    CoSENTLoss,
    PairBCELoss,
    SoftmaxLoss,
    SupConLoss,
    TripletLoss,
)
from simsearch.models.optimizers import build_optimizer, encoder_variables
from simsearch.models.progress import StepProgress, StopReport
from simsearch.models.recipe import encode
from simsearch.models.selection import mode_of
from simsearch.models.trainers import EmbeddingTrainer, PairTrainer
from simsearch.tower_kinds import tower_kind
from simsearch.train_config import TrainConfig

__all__ = [
    "MIN_GAIN",
    "StopUnlessBeaten",
    "StopWhenSaturated",
    "entity_labels",
    "fit_items",
    "fit_pairs",
    "saturated",
]

logger = logging.getLogger(__name__)

History = dict[str, list[float]]


def fit_items(
    tower_model: keras.Model,
    kind: str,
    x_train: Any,
    labels: npt.NDArray[np.int64],
    config: TrainConfig,
    validation: keras.callbacks.Callback | None,
    monitor: str,
    epochs: int | None = None,
    to_beat: float | None = None,
) -> History:
    """Train on labelled items; `validation` None trains `epochs` (default `config.epochs`)
    without early stopping; `to_beat` (a held-out score training must beat, `_callbacks`)."""
    from simsearch.data.pipeline import episode_dataset

    if not tower_model.trainable_weights:  # the raw-pixel baseline: nothing to learn
        return {}
    if config.loss not in ("triplet", "softmax"):
        n_pairs = config.steps_per_epoch * config.batch_size * min(config.epochs, 5)
        pairs = make_pairs(labels, n_pairs, positive_fraction=config.positive_fraction, seed=config.seed)
        return _fit_pair_loss(tower_model, kind, x_train, pairs, config, validation, monitor, epochs, to_beat)
    p, k = _episode_shape(config, labels)
    learn_scale = config.loss == "softmax" and config.scale is None
    trainer = EmbeddingTrainer(tower_model, _augment_layer(kind, config), learn_scale=learn_scale)
    trainer.compile(
        optimizer=_optimizer(config, tower_model), loss=None if learn_scale else _batch_loss(config)
    )
    data = episode_dataset(x_train, labels, p=p, k=k, n_batches=config.steps_per_epoch, seed=config.seed)
    history = _run(
        trainer, data.repeat(), config.steps_per_epoch, config, validation, monitor, epochs, to_beat
    )
    if trainer.scale is not None:
        history["scale"] = [trainer.scale]
    return history


def fit_pairs(
    model_tower: keras.Model,
    kind: str,
    x: Any,
    pairs: Pairs,
    entity: npt.NDArray[np.int64],
    config: TrainConfig,
    validation: keras.callbacks.Callback | None,
    monitor: str,
    epochs: int | None = None,
    to_beat: float | None = None,
) -> History:
    """Train on labelled pairs with the configured loss: batch losses over the entities the
    positive pairs link (`entity`, from `entity_labels`), pair losses over the pairs; `to_beat`
    as `fit_items`."""
    if config.loss == "supcon":
        return _fit_supcon(model_tower, x, pairs, config, validation, monitor, epochs, to_beat)
    if config.loss in ("triplet", "softmax"):
        return fit_items(model_tower, kind, x, entity, config, validation, monitor, epochs, to_beat)
    return _fit_pair_loss(model_tower, kind, x, pairs, config, validation, monitor, epochs, to_beat)


def entity_labels(n: int, pairs: Pairs) -> npt.NDArray[np.int64]:
    """Label items by the entities positive pairs link (union-find); unlinked items get -1."""
    from simsearch.data.clusters import linked_roots

    left, right = pairs.left[pairs.same == 1], pairs.right[pairs.same == 1]
    linked = np.zeros(n, bool)
    linked[left] = linked[right] = True
    _, labels = np.unique(linked_roots(n, left, right), return_inverse=True)
    return np.where(linked, labels, -1).astype(np.int64)


def _fit_pair_loss(
    tower_model: keras.Model,
    kind: str,
    x: Any,
    pairs: Pairs,
    config: TrainConfig,
    validation: keras.callbacks.Callback | None,
    monitor: str,
    epochs: int | None = None,
    to_beat: float | None = None,
) -> History:
    """Train on pairs with a pair loss: contrastive, binary cross-entropy or CoSENT."""
    from simsearch.data.pipeline import pair_dataset

    head = _cosine_head(tower_model, x, pairs) if config.loss == "bce" else None
    graded = config.loss == "cosent"
    output = "cosine" if graded else "distance"
    trainer = PairTrainer(tower_model, head, _augment_layer(kind, config), output=output)
    loss: keras.losses.Loss
    if graded:
        loss = CoSENTLoss(config.scale or 20.0)
    elif head is not None:
        loss = PairBCELoss()
    else:
        loss = ContrastiveLoss(config.margin or 1.0, similar_label=1)
    trainer.compile(optimizer=_optimizer(config, tower_model), loss=loss)
    data = pair_dataset(
        x, x, pairs, batch_size=config.batch_size, seed=config.seed, repeat=True, graded=graded
    )
    steps = min(config.steps_per_epoch, max(1, math.ceil(len(pairs) / config.batch_size)))
    return _run(trainer, data, steps, config, validation, monitor, epochs, to_beat)


def _run(
    trainer: keras.Model,
    data: Any,
    steps: int,
    config: TrainConfig,
    validation: keras.callbacks.Callback | None,
    monitor: str,
    epochs: int | None,
    to_beat: float | None,
) -> History:
    """`trainer.fit` on a dataset that shuffles itself, with the stopping callbacks; the history
    as floats."""
    fit = trainer.fit(
        data,
        epochs=epochs or config.epochs,
        steps_per_epoch=steps,
        callbacks=_callbacks(config, validation, monitor, to_beat),
        verbose=config.verbose,
        shuffle=False,
    )
    return {key: [float(v) for v in values] for key, values in fit.history.items()}


SUPCON_TEMPERATURE = 0.07  # Khosla et al. 2020 and R-SupCon


def _fit_supcon(
    tower_model: keras.Model,
    x: Any,
    pairs: Pairs,
    config: TrainConfig,
    validation: keras.callbacks.Callback | None,
    monitor: str,
    epochs: int | None = None,
    to_beat: float | None = None,
) -> History:
    """Train on the match clusters of `pairs` with the supervised contrastive loss: batches of
    `batch_size / 2` clusters × 2 items (`cluster_batches`), half of the clusters drawn with a
    labelled or a mined (`mined_negatives`) non-match; `config.scale` is 1 / temperature."""
    from simsearch.data.clusters import cluster_batches, match_clusters, mined_negatives, negative_clusters
    from simsearch.data.pipeline import batch_dataset

    labels = match_clusters(len(next(iter(x.values())) if isinstance(x, dict) else x), pairs)
    negatives = negative_clusters(labels, pairs)
    if isinstance(x, dict):  # records: add each cluster's nearest other clusters by TF-IDF
        for cluster, mined in mined_negatives(record_words(x), labels).items():
            negatives[cluster] = sorted({*negatives.get(cluster, []), *mined})
    p = max(2, config.batch_size // 2)
    next(cluster_batches(labels, negatives, p=p, n_batches=1, seed=config.seed))  # fail here, not in fit
    data = batch_dataset(
        x,
        labels,
        lambda seed: cluster_batches(labels, negatives, p=p, n_batches=config.steps_per_epoch, seed=seed),
        batch_size=2 * p,
        seed=config.seed,
    )
    trainer = EmbeddingTrainer(tower_model, None)
    temperature = 1.0 / config.scale if config.scale else SUPCON_TEMPERATURE
    trainer.compile(optimizer=_optimizer(config, tower_model), loss=SupConLoss(temperature))
    return _run(trainer, data.repeat(), config.steps_per_epoch, config, validation, monitor, epochs, to_beat)


def record_words(x: dict[str, Any]) -> list[str]:
    """Each record's fields, normalised (`serialize.normalize_value`) and joined: the words
    `mined_negatives` compares."""
    from simsearch.data.serialize import normalize_value
    from simsearch.models.lm_tower import column_texts

    columns = [column_texts(column) for column in x.values()]
    return [" ".join(normalize_value(v) for v in row) for row in zip(*columns, strict=True)]


def _cosine_head(tower_model: keras.Model, x: Any, pairs: Pairs) -> keras.Model:
    """A head whose MLP is frozen at zero, P(same) = sigmoid(a * cos + b), for training a tower
    with binary cross-entropy; `b` starts where the untrained tower separates the training pairs.

    Trained jointly, the full head learned the pairs itself instead of teaching the tower
    (Abt-Buy validation average precision 0.30 against 0.92 with this one); the full head is
    fitted afterwards, on the trained tower's hard candidates.
    """
    rows = np.unique(np.concatenate([pairs.left, pairs.right]))  # only the paired items
    encoded = encode(tower_model, take_rows(x, rows))
    where = np.searchsorted(rows, np.concatenate([pairs.left, pairs.right]))
    u, v = encoded[where[: len(pairs)]], encoded[where[len(pairs) :]]
    cos = 1.0 - pair_distances(u, v, "cosine")
    middle = 0.5 * (cos[pairs.same == 1].mean() + cos[pairs.same == 0].mean())
    head = build_head_model(encoded.shape[1])
    inner = head.get_layer("pairwise_head")
    for layer in (inner.norm, *inner.dense, inner.out):
        layer.trainable = False
    inner.calibration_bias.assign(-inner.cos_scale * float(middle))
    return head


def _optimizer(config: TrainConfig, tower_model: keras.Model) -> keras.optimizers.Optimizer:
    """The optimiser at `learning_rate`; a pretrained encoder's weights at `encoder_learning_rate`."""
    total = config.epochs * config.steps_per_epoch
    lr: Any = config.learning_rate
    if config.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(config.learning_rate, total, alpha=0.01)
    options = {"sgd": {"momentum": 0.9, "nesterov": True}, "adamw": {"weight_decay": 1e-4}}
    return build_optimizer(
        config.optimizer,
        lr,
        scaled_variables=encoder_variables(tower_model),
        multiplier=config.encoder_learning_rate / config.learning_rate,
        **options.get(config.optimizer, {}),
    )


# Validation scores (AP, precision@1, TAR@FAR, Spearman) are at most 1: gains below this are
# no gain, so a saturated score (AP 0.99998, 0.99999, ...) ends training after `patience` epochs
# instead of running every epoch.
MIN_GAIN = 1e-4


def saturated(value: float | None, monitor: str) -> bool:
    """Whether a held-out `monitor` value leaves no gain of `MIN_GAIN` to make: a score bounded
    by 1 (average precision, AUC, precision@1, ...) within `MIN_GAIN` of it. Losses never are."""
    return value is not None and mode_of(monitor) == "max" and bool(value >= 1.0 - MIN_GAIN)


class StopWhenSaturated(keras.callbacks.Callback):
    """End training at the first epoch whose held-out `monitor` is `saturated`: no later epoch
    can beat it by `MIN_GAIN`, so waiting `patience` more epochs only spends time (placed after
    the validation callback, which writes the value into the epoch's logs)."""

    def __init__(self, monitor: str) -> None:
        super().__init__()
        self.monitor = monitor
        self.stopped_epoch: int | None = None
        self.value = float("nan")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and saturated(float(value), self.monitor):
            self.stopped_epoch, self.value = epoch, float(value)
            self.model.stop_training = True

    def reason(self) -> str:
        return f"held-out {self.monitor} saturated at {self.value:.4f}, no gain of {MIN_GAIN:g} left"


class StopUnlessBeaten(keras.callbacks.Callback):
    """End training after `patience` epochs none of which beat `to_beat` (the held-out `monitor`
    of a simpler candidate: the baseline or the start state) by `MIN_GAIN`: a trained tower is
    saved only when it beats them, and a run that has not in `patience` epochs is cut short, not
    run to its last epoch. (Keras's `EarlyStopping(baseline=...)` keeps a run that improves on its
    own best epoch going, however far below the baseline.)"""

    def __init__(self, monitor: str, to_beat: float, patience: int) -> None:
        super().__init__()
        self.monitor, self.to_beat, self.patience = monitor, to_beat, max(1, patience)
        self.stopped_epoch: int | None = None
        self.beaten = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and float(value) - MIN_GAIN > self.to_beat:
            self.beaten = True
        if not self.beaten and epoch + 1 >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def reason(self) -> str:
        return (
            f"{self.patience} epochs without beating the simpler candidate's {self.monitor} "
            f"{self.to_beat:.4f}, which is saved"
        )


def _callbacks(
    config: TrainConfig,
    validation: keras.callbacks.Callback | None,
    monitor: str,
    to_beat: float | None = None,
) -> list[Any]:
    """Progress, validation, early stopping (after `patience` epochs without a gain of
    `MIN_GAIN`), a stop at saturation, with `to_beat` a stop when training has not beaten that
    score in `patience` epochs (`StopUnlessBeaten`), checkpoints and TensorBoard."""
    # Keras's one line per epoch (verbose=2, off a terminal) says nothing within a long epoch.
    progress: list[Any] = [StepProgress()] if config.verbose == 2 else []
    if validation is None:  # a fixed number of epochs, chosen beforehand
        return progress + ([keras.callbacks.TensorBoard(log_dir=config.log_dir)] if config.log_dir else [])
    mode = mode_of(monitor)
    stopping = keras.callbacks.EarlyStopping(
        monitor=monitor,
        mode=mode,
        patience=config.patience,
        restore_best_weights=True,
        min_delta=MIN_GAIN if mode == "max" else 0.0,
    )
    others: list[Any] = [StopWhenSaturated(monitor)]
    if to_beat is not None and np.isfinite(to_beat) and mode == "max":
        others.append(StopUnlessBeaten(monitor, to_beat, config.patience))
    callbacks: list[Any] = [*progress, validation, stopping, *others, StopReport(stopping, *others)]
    if config.checkpoint_dir:
        path = Path(config.checkpoint_dir) / "best.weights.h5"
        path.parent.mkdir(parents=True, exist_ok=True)
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                str(path), monitor=monitor, mode=mode, save_best_only=True, save_weights_only=True
            )
        )
    if config.log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=config.log_dir))
    return callbacks


def _augment_layer(kind: str, config: TrainConfig) -> keras.layers.Layer | None:
    if not tower_kind(kind).augments or not config.augment:
        return None
    rotation, shear, scale, shift = config.affine
    return RandomAffine(rotation=rotation, shear=shear, scale=scale, shift=shift, seed=config.seed)


def _episode_shape(config: TrainConfig, labels: npt.NDArray[np.int64]) -> tuple[int, int]:
    """P×K of the episodes: the configured P, or with fewer classes of 2+ items than the default
    P, all of them, with K grown to keep the batch size (2-5 classes train as well)."""
    p, k = config.p_k
    usable = int((np.bincount(labels[labels >= 0]) >= 2).sum()) if (labels >= 0).any() else 0
    if config.classes_per_batch is None and 2 <= usable < p:
        p, k = usable, max(2, config.batch_size // usable)
        logger.info("%d classes: episodes of %d classes x %d items", usable, p, k)
    return p, k


def _batch_loss(config: TrainConfig) -> keras.losses.Loss:
    if config.loss == "triplet":
        return TripletLoss(margin=config.margin or 0.2, mining=config.mining)
    return SoftmaxLoss(scale=config.scale or 10.0)
