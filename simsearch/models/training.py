"""Train a siamese model from labelled items or labelled pairs, by the recipe of
`simsearch.models.recipe`: build, fit, choose, calibrate, write the config.

`train_items` takes `Items` with class labels (images, texts, records); `train_pairs` takes a
catalogue and `Pairs` (DeepMatcher-style `left_id, right_id, label`). Both return a
`SiameseModel` with its head fitted on hard negatives and thresholds calibrated on held-out data;
with too little held-out data they cross-validate instead (`simsearch.models.small_data`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.data.pairs import Pairs, split_by_class, split_within_classes
from simsearch.data.requirements import check_items_trainable, check_pairs_trainable
from simsearch.errors import ConfigError
from simsearch.models.calibration import head_cos_scale, head_on_items, head_on_pairs
from simsearch.models.callbacks import PairValidation, RetrievalValidation, take_rows
from simsearch.models.candidates import HeldOutCandidates
from simsearch.models.fitting import entity_labels, fit_items, fit_pairs, saturated
from simsearch.models.recipe import (
    Built,
    build,
    build_baseline,
    check_tower,
    choose_on_held_out,
    encode,
    finish,
    n_classes,
)
from simsearch.models.selection import (
    MIN_VALIDATION_CLASSES,
    SMALL_ITEM_VALIDATION,
    SMALL_PAIR_SET,
    Selection,
    mode_of,
)
from simsearch.models.siamese import SiameseModel
from simsearch.models.small_data import train_items_cross_validated, train_pairs_cross_validated
from simsearch.tower_kinds import tower_kind
from simsearch.train_config import TrainConfig

__all__ = [
    "TrainConfig",
    "item_split",
    "rotate_classes",
    "split_pairs",
    "train_items",
    "train_pairs",
]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG = TrainConfig()  # frozen: one default shared by every call
MAX_DISTRACTORS = 5000  # training items searched beside the held-out ones at each validation


def train_items(
    items: Items,
    *,
    tower: str,
    tower_settings: dict[str, Any] | None = None,
    config: TrainConfig = DEFAULT_CONFIG,
    val_items: Items | None = None,
) -> SiameseModel:
    """Train a siamese model on labelled items; validation classes are never seen in training.

    Args:
        items: labelled items (images, or text/record fields).
        tower: `"image"`, `"text"`, `"record"` or `"face"`.
        tower_settings: keyword arguments of the tower's config (`ImageTowerConfig`, ...).
        config: training settings.
        val_items: held-out items of classes not in `items`; None = split off `val_fraction`
            of the classes (with few classes, of the items of every class; with few held-out
            items, cross-validation: `small_data`).

    Example:
    >>> model = train_items(load_items("omniglot/background"), tower="image",
    ...                     config=TrainConfig(loss="softmax", epochs=10))
    >>> model.save("models/omniglot")
    """
    keras.utils.set_random_seed(config.seed)
    check_tower(tower, items)
    check_items_trainable(items)
    settings_in = tower_settings or {}
    split = "given" if val_items is not None else item_split(items, config.val_fraction)
    if val_items is None:
        divide = split_by_class if split == "classes" else split_within_classes
        labelled = items
        items, val_items = divide(items, val_fraction=config.val_fraction, seed=config.seed)
        if split == "items" and val_items.labels.size < SMALL_ITEM_VALIDATION and not config.rotate_classes:
            return train_items_cross_validated(labelled, tower=tower, settings_in=settings_in, config=config)
    train = rotate_classes(items) if config.rotate_classes else items
    built = build(tower, train, settings_in)
    x_train, x_val = built.inputs(train), built.inputs(val_items)
    validation = _item_validation(built, (x_train, train.labels), (x_val, val_items), split, config.seed)
    start = validation.measure()
    config = dataclasses.replace(config, monitor=_item_monitor(config, tower, start))
    monitor = str(config.monitor)
    initial = built.tower.get_weights()
    history = fit_items(built.tower, tower, x_train, train.labels, config, validation, monitor)
    selection = Selection(split, validation.n_queries, monitor)
    built = choose_on_held_out(
        selection, built, initial, start, history, validation,
        baseline=lambda: build_baseline(tower, train, settings_in), keep_baseline=config.keep_baseline,
    )  # fmt: skip
    if selection.chosen != "trained":
        history = {}
    head, head_history, threshold, summary = head_on_items(
        built.tower, (x_train, train.labels), (x_val, val_items.labels), config, built.metric,
        cos_scale=head_cos_scale(history, config), fit_on_validation=split != "items",
    )  # fmt: skip
    history.update(head_history)
    classes = {"train": n_classes(train.labels), "validation": n_classes(val_items.labels)}
    return finish(built, head, config, threshold, summary, history, selection, {"classes": classes})


def _item_validation(
    built: Built,
    train: tuple[Any, npt.NDArray[np.int64]],
    held_out: tuple[Any, Items],
    split: str,
    seed: int,
) -> RetrievalValidation:
    """The held-out items (`(inputs, items)`) searched beside the training items (`(inputs,
    labels)`); one-shot among held-out classes."""
    (x_train, train_labels), (x_val, val_items) = train, held_out
    n_way = 0 if split == "items" else min(20, n_classes(val_items.labels))
    return RetrievalValidation(
        built.tower,
        x_val,
        val_items.labels,
        groups=val_items.groups,
        metric=built.metric,
        n_way=n_way,
        catalogue=_validation_catalogue(x_train, train_labels, seed),
    )


def _item_monitor(config: TrainConfig, tower: str, start: dict[str, float]) -> str:
    """The held-out metric that early stopping and the choice follow: the configured one, else
    precision@1 (TAR at a low false-accept rate for faces), when validation measures it."""
    # A pretrained face descriptor is near perfect at one-shot on a few held-out people: how many
    # genuine pairs it accepts at a low false-accept rate still tells two towers apart.
    monitor = config.monitor or tower_kind(tower).monitor
    if monitor not in start:  # one-shot needs held-out classes; few classes hold out items
        logger.warning(
            "%s is not measured on held-out items of the training classes: early stopping "
            "follows val_precision_at_1", monitor,
        )  # fmt: skip
        monitor = "val_precision_at_1"
    return monitor


def _validation_catalogue(
    x_train: Any, labels: npt.NDArray[np.int64], seed: int
) -> tuple[Any, npt.NDArray[np.int64]]:
    """The training items (at most `MAX_DISTRACTORS`, drawn at random) that validation queries
    search beside the held-out items: the catalogue of a real search holds everything."""
    if len(labels) <= MAX_DISTRACTORS:
        return x_train, labels
    rows = np.sort(np.random.default_rng(seed).choice(len(labels), MAX_DISTRACTORS, replace=False))
    return take_rows(x_train, rows), labels[rows]


def item_split(items: Items, val_fraction: float) -> str:
    """`"classes"` when enough classes can be held out whole for one-shot validation to mean
    something, else `"items"` (held-out items of the training classes)."""
    n_val = round(n_classes(items.labels) * val_fraction)
    return "classes" if n_val >= MIN_VALIDATION_CLASSES else "items"


def rotate_classes(items: Items) -> Items:
    """Add every image class turned by 90°, 180° and 270° as three new classes."""
    if items.images is None:
        raise ConfigError("Expected image items for rotate_classes. Received: text or record items")
    if items.images.shape[1] != items.images.shape[2]:
        raise ConfigError(
            f"Expected square images for rotate_classes. Received: {items.images.shape[1:3]}; "
            "resize them (--image-size) or drop --rotate-classes"
        )
    n_classes = len(items.classes)
    images = [items.images] + [np.rot90(items.images, k, axes=(1, 2)) for k in (1, 2, 3)]
    labels = [np.where(items.labels >= 0, items.labels + k * n_classes, -1) for k in range(4)]
    classes = tuple(items.classes) + tuple(f"{c}@rot{90 * k}" for k in (1, 2, 3) for c in items.classes)
    ids = [items.ids.astype(str)] + [np.char.add(items.ids.astype(str), f"@rot{90 * k}") for k in (1, 2, 3)]
    groups = None if items.groups is None else np.concatenate([items.groups] * 4)
    return Items(
        ids=np.concatenate(ids),
        labels=np.concatenate(labels),
        classes=classes,
        images=np.ascontiguousarray(np.concatenate(images)),
        groups=groups,
    )


def train_pairs(
    catalog: Items,
    pairs: Pairs,
    *,
    tower: str,
    tower_settings: dict[str, Any] | None = None,
    config: TrainConfig = DEFAULT_CONFIG,
    val_pairs: Pairs | None = None,
    second_catalogue: int | None = None,
) -> SiameseModel:
    """Train a siamese model on labelled pairs over one catalogue (or two, concatenated).

    `pairs.same` is 1 for the same item, as in DeepMatcher's files. Batch losses (softmax,
    triplet) learn from the entities that the positive pairs link; pair losses (contrastive, bce)
    from the pairs themselves, the given negatives included.

    Validation and thresholds use the held-out pairs and the candidates the jobs will see: the
    `config.candidate_k` nearest neighbours of the held-out items (`models.candidates`). The
    tower saved is the best of its non-learned baseline, its start state and its trained state
    there (`simsearch.models.selection`); when the baseline or start state is already perfect
    there (`fitting.saturated`) training cannot beat it and is skipped. Fewer than
    `SMALL_PAIR_SET` pairs and no `val_pairs`: the epoch count and the distance threshold come
    from `CV_FOLDS`-fold cross-validation, and the head is not trained (too few pairs to show
    it helps).

    Args:
        catalog: the items the pairs point into (text or record fields).
        pairs: training pairs, positions into `catalog`.
        val_pairs: held-out pairs for early stopping and thresholds; None = 20% of `pairs`
            (cross-validation below `SMALL_PAIR_SET` pairs).
        second_catalogue: the row of `catalog` where a second catalogue starts (two catalogues
            matched: its held-out items search the first, as `match` does); None = one
            catalogue (its held-out items search it all, as `dedup` does).
    """
    keras.utils.set_random_seed(config.seed)
    check_tower(tower, catalog)
    check_pairs_trainable(pairs, held_out=val_pairs is not None)
    monitor = _pair_monitor(config, pairs, val_pairs)
    config = dataclasses.replace(config, monitor=monitor)  # the model's config says what was used
    settings_in = tower_settings or {}
    if val_pairs is None and len(pairs) < SMALL_PAIR_SET:
        return train_pairs_cross_validated(
            catalog, pairs, tower=tower, settings_in=settings_in, config=config
        )
    split = "given" if val_pairs is not None else "pairs"
    if val_pairs is None:
        pairs, val_pairs = split_pairs(pairs, config.val_fraction, config.seed)
    built = build(tower, catalog, settings_in)
    rival = build_baseline(tower, catalog, settings_in)
    x = built.inputs(catalog)
    held = HeldOutCandidates.of(catalog, pairs, val_pairs, config, second_catalogue)
    held.mine("start", built.tower, x, built.metric)
    if rival is not None:
        held.mine("baseline", rival.tower, x, rival.metric)
    validation = PairValidation(built.tower, x, held.pairs(), metric=built.metric)
    entity = entity_labels(len(catalog), pairs)
    start = validation.measure()
    initial = built.tower.get_weights()
    simpler = _simpler_scores(validation, start, rival, monitor)
    skipped = _saturated(simpler, monitor, held) if config.keep_baseline else None
    # A trained tower is saved only when it beats them: early stopping counts from there too.
    to_beat = max(simpler.values()) if config.keep_baseline and mode_of(monitor) == "max" else None
    history: dict[str, list[float]] = {}
    if skipped is None:
        history = fit_pairs(
            built.tower, tower, x, pairs, entity, config, validation, monitor, to_beat=to_beat
        )
    epochs_trained = len(history.get("loss", []))
    if history.get(monitor) and held.mining:  # the trained tower's own candidates join in
        held.mine("trained", built.tower, x, built.metric)
        validation, start, judged = _remeasured(held, built, x, initial, monitor)
    else:
        judged = history
    selection = Selection(split, len(validation.pairs), monitor, held_out=held.counts())
    built = choose_on_held_out(
        selection, built, initial, start, judged, validation,
        baseline=lambda: rival, keep_baseline=config.keep_baseline,
    )  # fmt: skip
    if selection.chosen != "trained":
        history = {}
        x = built.inputs(catalog)
    own = held.own(selection.chosen, rival is not None)
    head, head_history, threshold, summary = head_on_pairs(
        encode(built.tower, x), pairs, held.pairs(own), entity, config, built.metric,
        cos_scale=head_cos_scale(history, config),
    )  # fmt: skip
    threshold["calibrated_on"] = held.counts(own)
    history.update(head_history)
    data: dict[str, Any] = {
        "pairs": {"train": len(pairs), "validation": len(val_pairs)},
        "epochs_trained": epochs_trained,
    }
    if skipped is not None:
        data["training_skipped"] = skipped
    return finish(built, head, config, threshold, summary, history, selection, data)


def _simpler_scores(
    validation: PairValidation, start: dict[str, float], rival: Built | None, monitor: str
) -> dict[str, float]:
    """The held-out `monitor` of the start state and of the separate baseline tower (if any)."""
    scores = {"start state": start.get(monitor, float("nan"))}
    if rival is not None:
        saved = validation.metric
        validation.metric = rival.metric
        try:
            scores["non-learned baseline"] = validation.measure(rival.tower).get(monitor, float("nan"))
        finally:
            validation.metric = saved
    return {name: float(value) for name, value in scores.items() if np.isfinite(value)}


def _saturated(scores: dict[str, float], monitor: str, held: HeldOutCandidates) -> str | None:
    """Why training is skipped: a simpler candidate's held-out score (`scores`) is already
    perfect on the held-out pairs and candidates, so that no trained tower could beat it
    (`fitting.saturated`); None when none is. Logged."""
    for name, value in scores.items():
        if saturated(value, monitor):
            reason = f"the {name} already scores {monitor} {value:.4f} on {held.describe()}"
            logger.info("Training skipped: %s; a trained tower could not beat it", reason)
            return reason
    return None


def _remeasured(
    held: HeldOutCandidates, built: Built, x: Any, initial: list[Any], monitor: str
) -> tuple[PairValidation, dict[str, float], dict[str, list[float]]]:
    """The validation on the union of every candidate's mined pairs, the start state's metrics
    and the trained tower's score there (as a one-epoch history, for `choose_on_held_out`)."""
    validation = PairValidation(built.tower, x, held.pairs(), metric=built.metric)
    trained = built.tower.get_weights()
    judged = {monitor: [validation.measure()[monitor]]}
    built.tower.set_weights(initial)
    start = validation.measure()
    built.tower.set_weights(trained)
    return validation, start, judged


def _pair_monitor(config: TrainConfig, pairs: Pairs, val_pairs: Pairs | None) -> str:
    """The held-out metric that early stopping and the choice follow: the configured one, else
    average precision, or on graded pairs how well the tower orders them (Spearman), as STS-B is
    judged."""
    graded = pairs.score is not None and (val_pairs is None or val_pairs.score is not None)
    return config.monitor or ("val_spearman" if graded else "val_average_precision")


def split_pairs(pairs: Pairs, fraction: float, seed: int) -> tuple[Pairs, Pairs]:
    """`(train, held_out)`: a seeded random `fraction` of the pairs held out."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    cut = round(len(pairs) * (1 - fraction))
    return pairs.take(order[:cut]), pairs.take(order[cut:])
