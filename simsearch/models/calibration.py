"""The recipe's calibrate step: fit the pairwise head on the chosen tower's hard candidates and
calibrate the distance and probability thresholds on held-out data.

`head_on_items` and `head_on_pairs` do it for the two kinds of labelled data; with too few
labels to show on held-out data that a head helps, `untrained_head` keeps an untrained head
that never decides and `distance_threshold` calibrates the distance alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.pairs import Pairs, make_pairs
from simsearch.evaluation.evaluate import pair_distances
from simsearch.models import head_training
from simsearch.models.callbacks import take_rows
from simsearch.models.fitting import entity_labels
from simsearch.models.head import build_head_model
from simsearch.models.recipe import encode
from simsearch.train_config import TrainConfig

__all__ = [
    "calibrate",
    "distance_threshold",
    "head_cos_scale",
    "head_on_items",
    "head_on_pairs",
    "head_summary",
    "untrained_head",
]

History = dict[str, list[float]]


def head_cos_scale(history: History, config: TrainConfig) -> float:
    """The tower's softmax scale (learned or set), a natural start for the head's cosine weight."""
    if history.get("scale"):
        return float(history["scale"][-1])
    return float(config.scale or 10.0)


def head_on_items(
    tower_model: keras.Model,
    train: tuple[Any, npt.NDArray[np.int64]],
    held_out: tuple[Any, npt.NDArray[np.int64]],
    config: TrainConfig,
    metric: str,
    cos_scale: float = 10.0,
    fit_on_validation: bool = True,
) -> tuple[keras.Model, History, dict[str, Any], dict[str, Any]]:
    """Fit the head listwise on the tower's own hard candidates, measure what re-ranking gains on
    held-out classes, and calibrate both thresholds there, with the false-accept curve of every
    pair of held-out items that `--max-far` reads; `train` and `held_out` are `(inputs, labels)`.

    The head learns from the tower's mistakes on classes it was not trained on (half of the
    validation classes) when there are enough of them: on its own training classes the tower
    is overconfident, and a head fitted there did not carry over to new classes. The other half
    calibrates the head and measures it. Without held-out classes (`fit_on_validation=False`:
    held-out items of the training classes) the head learns from the training items and the
    held-out items calibrate and measure it.

    Returns:
        `(head, history, threshold, head_summary)`.
    """
    (x_train, train_labels), (x_val, val_labels) = train, held_out
    e_val = encode(tower_model, x_val)
    fit_rows, check_rows = _halves(val_labels, config.seed)
    queries = None
    if fit_on_validation and len(fit_rows) >= 200:
        e_fit, fit_labels = e_val[fit_rows], val_labels[fit_rows]
        e_check, check_labels = e_val[check_rows], val_labels[check_rows]
    elif fit_on_validation:
        e_fit, fit_labels = encode(tower_model, x_train), train_labels
        e_check, check_labels = e_val, val_labels
    else:  # held-out items of the training classes, searched among the training items
        e_fit, fit_labels = encode(tower_model, x_train), train_labels
        e_check = np.concatenate([e_val, e_fit])
        check_labels = np.concatenate([val_labels, train_labels])
        queries = np.arange(len(e_val))
    head = build_head_model(e_val.shape[1], cos_scale=cos_scale)
    history = head_training.fit_head_listwise(
        head, e_fit, fit_labels, epochs=config.head_epochs, seed=config.seed
    )
    trained = bool(history)
    check_pairs = _calibration_pairs(e_check, check_labels, config.seed, left_rows=queries)
    history.update(head_training.fit_calibration(head, e_check, check_pairs))
    threshold, pair_report = calibrate(
        head, e_check, check_pairs, normalised=metric == "cosine", criterion=config.threshold_criterion
    )
    rerank = head_training.rerank_report(head, e_check, check_labels, seed=config.seed, query_rows=queries)
    far = _far_curve(tower_model, x_val, val_labels, metric)
    if far is not None:
        threshold.setdefault("curves", {})["far"] = far
    return head, history, threshold, head_summary(pair_report, rerank, trained=trained)


def head_on_pairs(
    embeddings: npt.NDArray[np.float32],
    pairs: Pairs,
    val_pairs: Pairs,
    entity: npt.NDArray[np.int64],
    config: TrainConfig,
    metric: str,
    cos_scale: float = 10.0,
) -> tuple[keras.Model, History, dict[str, Any], dict[str, Any]]:
    """Fit the head on the catalogue's `embeddings` (listwise over the `entity` labels of the
    training pairs, or on graded pairs their scores rescaled to 0-1, as STS-B and SICK measure),
    and calibrate both thresholds on `val_pairs`.

    Returns:
        `(head, history, threshold, head_summary)`; the summary's `output` says the graded
        score range the head's 0-1 output maps to.
    """
    head = build_head_model(embeddings.shape[1], cos_scale=cos_scale)
    graded_range = None
    if pairs.score is not None and val_pairs.score is not None:
        history, graded_range = head_training.fit_head_graded(
            head, embeddings, pairs, val_pairs, epochs=3 * config.head_epochs
        )
        trained = bool(history)
    else:
        history = head_training.fit_head_listwise(
            head, embeddings, entity, epochs=config.head_epochs, seed=config.seed
        )
        trained = bool(history)
        history.update(head_training.fit_calibration(head, embeddings, val_pairs))
    threshold, pair_report = calibrate(
        head, embeddings, val_pairs, normalised=metric == "cosine", criterion=config.threshold_criterion
    )
    val_entity = entity_labels(len(embeddings), val_pairs)
    rerank = head_training.rerank_report(head, embeddings, val_entity, seed=config.seed)
    summary = head_summary(pair_report, rerank, trained=trained)
    if graded_range is not None:
        summary["output"] = {"graded_score": list(graded_range)}
    return head, history, threshold, summary


def untrained_head(dim: int, cos_scale: float, reason: str) -> tuple[keras.Model, dict[str, Any]]:
    """A head that is saved but never decides, and its summary saying why (`reason`): too few
    labels to show on held-out data that it helps."""
    summary = {"trained": False, "decides": False, "rerank_default": False, "depth": 0, "reason": reason}
    return build_head_model(dim, cos_scale=cos_scale), summary


def distance_threshold(distances: npt.NDArray[np.float32], pairs: Pairs, criterion: str) -> dict[str, Any]:
    """The distance threshold and its precision curve, from held-out pair distances; no head
    probability threshold (the head does not decide)."""
    from simsearch.evaluation.metrics import precision_curve, separating_threshold

    value = -head_training.choose_threshold(pairs.same, -distances, criterion=criterion)
    curve = [[-t, p, r] for t, p, r in precision_curve(pairs.same, -distances)]
    gap = separating_threshold(pairs.same, -distances) is not None
    return {
        "distance": float(value),
        "probability": None,
        "criterion": f"best_{criterion}" + (", midpoint of the gap" if gap else ""),
        "curves": {"distance": curve},
    }


def _far_curve(
    tower_model: keras.Model, x_val: Any, labels: npt.NDArray[np.int64], metric: str
) -> dict[str, Any] | None:
    """The false-accept curve of every pair of held-out items, read by `--max-far`."""
    from simsearch.evaluation.evaluate import all_pairs_far_curve

    rows = np.flatnonzero(labels >= 0)
    return all_pairs_far_curve(encode(tower_model, take_rows(x_val, rows)), labels[rows], metric)


def head_summary(
    pair_report: head_training.HeadReport, rerank: head_training.RerankReport, *, trained: bool
) -> dict[str, Any]:
    """The head's held-out record and the one rule every command follows: the head decides
    (re-ranks searches, keeps or drops pairs) only when it was trained and beat the tower's
    distance on held-out data, both as a ranking (precision@1, significant) and on pairs
    (average precision); otherwise the distance and its threshold decide."""
    decides = trained and rerank.head_helps and pair_report.head_helps
    return {
        **dataclasses.asdict(pair_report),
        **dataclasses.asdict(rerank),
        "trained": trained,
        "decides": decides,
        "rerank_default": decides,
    }


def calibrate(
    head: keras.Model,
    embeddings: npt.NDArray[np.float32],
    pairs: Pairs,
    *,
    normalised: bool,
    criterion: str = "f1",
) -> tuple[dict[str, Any], head_training.HeadReport]:
    """Both thresholds (distance and head probability) on `pairs` of rows of `embeddings`."""
    u, v = embeddings[pairs.left], embeddings[pairs.right]
    distances = pair_distances(u, v, "cosine" if normalised else "l2")
    probabilities = np.asarray(head.predict({"u": u, "v": v}, batch_size=4096, verbose=0)).reshape(-1)
    return head_training.calibrate(distances, probabilities, pairs.same, criterion=criterion)


def _halves(labels: npt.NDArray[np.int64], seed: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Split rows into two class-disjoint halves (by class, seeded)."""
    classes = np.unique(labels[labels >= 0])
    chosen = np.random.default_rng(seed).permutation(classes)[: len(classes) // 2]
    first = np.isin(labels, chosen)
    return np.flatnonzero(first), np.flatnonzero(~first & (labels >= 0))


def _calibration_pairs(
    embeddings: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    seed: int,
    left_rows: npt.NDArray[np.int64] | None = None,
) -> Pairs:
    """The tower's hard pairs and random ones among `embeddings`; with `left_rows`, only the
    pairs with one side among them (the held-out items), that side put on the left."""
    hard = head_training.mine_hard_pairs(embeddings, labels, seed=seed + 1)
    rand = make_pairs(labels, max(len(hard), 2000), seed=seed + 2)
    pairs = Pairs(
        np.concatenate([hard.left, rand.left]),
        np.concatenate([hard.right, rand.right]),
        np.concatenate([hard.same, rand.same]),
    )
    if left_rows is None:
        return pairs
    held = np.isin(pairs.left, left_rows)
    flipped = ~held & np.isin(pairs.right, left_rows)
    left = np.where(flipped, pairs.right, pairs.left)
    right = np.where(flipped, pairs.left, pairs.right)
    keep = held | flipped
    return Pairs(left[keep], right[keep], pairs.same[keep])
