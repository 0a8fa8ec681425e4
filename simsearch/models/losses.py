"""Losses for siamese training, in `keras.ops` so they run on any Keras backend.

Each loss is a pure function plus a thin `keras.losses.Loss` class:

- `contrastive_loss` / `ContrastiveLoss` over pair distances (Hadsell et al. 2006, **Y=0 = similar**);
- `triplet_loss` / `TripletLoss` with online mining in a batch (batch-all, batch-hard, semi-hard);
- `pair_bce_loss` / `PairBCELoss` on the pairwise head's probability (1 = same);
- `softmax_loss` / `SoftmaxLoss`, a multi-negative softmax over a batch or episode (prototypical /
  N-pair / multiple-negatives ranking);
- `supcon_loss` / `SupConLoss`, the supervised contrastive loss (Khosla et al. 2020) over a batch
  of clusters (R-SupCon's matching offers, Peeters & Bizer 2022), the other clusters its negatives;
- `cosent_loss` / `CoSENTLoss`, a ranking loss over the cosines of a batch of pairs with graded
  similarity scores (STS-B's 0-5; **higher = more similar**), as sentence-transformers' CoSENTLoss.

Batch losses take `(labels, embeddings)` as `(y_true, y_pred)`, so `keras.Model.fit` trains a tower
on class-balanced batches with no custom training step.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from simsearch.errors import ConfigError

__all__ = [
    "CoSENTLoss",
    "ContrastiveLoss",
    "PairBCELoss",
    "SoftmaxLoss",
    "SupConLoss",
    "TripletLoss",
    "contrastive_loss",
    "cosent_loss",
    "pair_bce_loss",
    "pairwise_distances",
    "softmax_loss",
    "supcon_loss",
    "triplet_loss",
]

MININGS = ("batch_all", "batch_hard", "semi_hard")
DISTANCES = ("euclidean", "squared", "cosine")
_EPSILON = 1e-12


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"Expected {name} to be one of {list(choices)}. Received: {name}={value!r}")


def pairwise_distances(embeddings: Any, distance: str = "euclidean") -> Any:
    """Return the `(n, n)` distances between the rows of `embeddings` `(n, dim)`.

    `"euclidean"` is the true distance (exactly 0 on the diagonal, with a finite gradient),
    `"squared"` its square, `"cosine"` is `1 - cos`.
    """
    _check_choice("distance", distance, DISTANCES)
    embeddings = ops.cast(embeddings, "float32")
    if distance == "cosine":
        unit = ops.normalize(embeddings, axis=-1)
        return 1.0 - ops.matmul(unit, ops.transpose(unit))
    sq_norms = ops.sum(ops.square(embeddings), axis=1)
    dot = ops.matmul(embeddings, ops.transpose(embeddings))
    squared = ops.maximum(sq_norms[:, None] - 2.0 * dot + sq_norms[None, :], 0.0)
    # Cancellation leaves ~1e-7 on the diagonal in float32; a row is at distance 0 from itself.
    squared = squared * (1.0 - ops.eye(ops.shape(squared)[0], dtype="float32"))
    if distance == "squared":
        return squared
    zero = ops.cast(ops.less_equal(squared, _EPSILON), "float32")
    return ops.sqrt(squared + zero * _EPSILON) * (1.0 - zero)


def contrastive_loss(y_true: Any, distance: Any, margin: float = 1.0) -> Any:
    """Contrastive loss of pairs from their embedding distance, one value per pair.

    Label convention of Hadsell, Chopra & LeCun (2006): **Y=0 for similar pairs**, Y=1 for
    dissimilar ones. `ContrastiveLoss(similar_label=1)` takes DeepMatcher-style labels instead.

    Formula: `L = (1 - Y) * 0.5 * D**2 + Y * 0.5 * max(0, margin - D)**2`

    Args:
        y_true: `(n,)` 0 = similar, 1 = dissimilar.
        distance: `(n,)` Euclidean distance D between the two embeddings of each pair.
        margin: distance beyond which dissimilar pairs cost nothing.
    """
    y = ops.reshape(ops.cast(y_true, "float32"), (-1,))
    d = ops.reshape(ops.cast(distance, "float32"), (-1,))
    similar_term = (1.0 - y) * 0.5 * ops.square(d)
    dissimilar_term = y * 0.5 * ops.square(ops.maximum(margin - d, 0.0))
    return similar_term + dissimilar_term


def pair_bce_loss(same: Any, probability: Any, epsilon: float = 1e-7) -> Any:
    """Binary cross-entropy of the pairwise head's probability, one value per pair.

    Formula: `L = -(S * log(p) + (1 - S) * log(1 - p))`, with `S = 1` for the same item.
    """
    s = ops.reshape(ops.cast(same, "float32"), (-1,))
    p = ops.clip(ops.reshape(ops.cast(probability, "float32"), (-1,)), epsilon, 1.0 - epsilon)
    return -(s * ops.log(p) + (1.0 - s) * ops.log(1.0 - p))


def _label_masks(labels: Any) -> tuple[Any, Any, Any]:
    labels = ops.reshape(labels, (-1,))
    same = ops.equal(labels[:, None], labels[None, :])
    eye = ops.cast(ops.eye(ops.shape(labels)[0]), "bool")
    positive = ops.logical_and(same, ops.logical_not(eye))
    return same, positive, ops.logical_not(same)


def triplet_loss(
    labels: Any,
    embeddings: Any,
    margin: float = 0.2,
    mining: str = "semi_hard",
    distance: str = "euclidean",
) -> Any:
    """Triplet loss with online mining over a batch of labelled embeddings; a scalar.

    Formula: `L(a, p, n) = max(0, D(a, p) - D(a, n) + margin)`, with triplets chosen by `mining`:

    - `"batch_all"`: every valid triplet, averaged over the active ones (loss > 0);
    - `"batch_hard"`: per anchor, the farthest positive and the nearest negative (Hermans et al.);
    - `"semi_hard"`: per (anchor, positive), the nearest negative farther than the positive, or the
      farthest negative when none is (Schroff et al., as TensorFlow Addons does it).

    Args:
        labels: `(n,)` int class of each row; batches of P classes × K items suit it best.
        embeddings: `(n, dim)` float32.
    """
    _check_choice("mining", mining, MININGS)
    d = pairwise_distances(embeddings, distance)
    _, positive, negative = _label_masks(labels)
    pos_f, neg_f = ops.cast(positive, "float32"), ops.cast(negative, "float32")
    if mining == "batch_all":
        losses = ops.relu(d[:, :, None] - d[:, None, :] + margin)
        losses = losses * pos_f[:, :, None] * neg_f[:, None, :]
        active = ops.sum(ops.cast(ops.greater(losses, 1e-16), "float32"))
        return ops.sum(losses) / ops.maximum(active, 1.0)
    if mining == "batch_hard":
        hardest_pos = ops.max(d * pos_f, axis=1)
        hardest_neg = ops.min(d + (1.0 - neg_f) * (ops.max(d) + 1.0), axis=1)
        valid = ops.cast(ops.logical_and(ops.any(positive, 1), ops.any(negative, 1)), "float32")
        losses = ops.relu(hardest_pos - hardest_neg + margin) * valid
        return ops.sum(losses) / ops.maximum(ops.sum(valid), 1.0)
    return _semi_hard(d, pos_f, neg_f, negative, margin)


def _semi_hard(d: Any, pos_f: Any, neg_f: Any, negative: Any, margin: float) -> Any:
    d_ap = d[:, :, None]  # (anchor, positive, 1)
    d_an = d[:, None, :]  # (anchor, 1, negative)
    outside = ops.logical_and(negative[:, None, :], ops.greater(d_an, d_ap))
    big = ops.max(d) + 1.0
    nearest_outside = ops.min(ops.where(outside, d_an, big), axis=2)
    farthest = ops.max(d * neg_f, axis=1)[:, None]
    has_outside = ops.any(outside, axis=2)
    chosen = ops.where(has_outside, nearest_outside, farthest)
    valid = pos_f * ops.cast(ops.any(negative, axis=1), "float32")[:, None]
    losses = ops.relu(d - chosen + margin) * valid
    return ops.sum(losses) / ops.maximum(ops.sum(valid), 1.0)


def softmax_loss(labels: Any, embeddings: Any, scale: Any = 20.0) -> Any:
    """Multi-negative softmax over class prototypes in a batch (episode); a scalar.

    Every item is a query; each class in the batch is a candidate, represented by the normalised
    mean of its unit embeddings, leaving the query out of its own class. The loss is the
    cross-entropy of the softmax over `scale * cos(query, prototype)`. With K items per class it
    is a prototypical-network episode (Snell et al. 2017); with pairs (K=2) it is the N-pair /
    multiple-negatives ranking loss (Sohn 2016; Henderson et al. 2017).

    Formula: `L_i = -log softmax_c(scale * cos(e_i, proto_c))[class(i)]`, averaged over items
    whose class has another member in the batch.

    Args:
        labels: `(n,)` int class of each row.
        embeddings: `(n, dim)` float32.
        scale: inverse temperature; a float or a scalar tensor (learnable in `EmbeddingTrainer`).
    """
    unit = ops.normalize(ops.cast(embeddings, "float32"), axis=-1)
    same, _, _ = _label_masks(labels)
    same_f = ops.cast(same, "float32")
    class_sums = ops.matmul(same_f, unit)  # row j: sum over the class of item j
    dots = ops.matmul(unit, ops.transpose(class_sums))  # (i, j): e_i . sum_j
    sum_sq = ops.sum(ops.square(class_sums), axis=1)[None, :]
    # Leave item i out of its own class: subtract e_i (unit norm) where labels match.
    proto_dot = dots - same_f
    proto_sq = sum_sq - 2.0 * same_f * dots + same_f
    empty = ops.less_equal(proto_sq, 1e-6)
    cos = proto_dot / ops.sqrt(ops.maximum(proto_sq, 1e-6))
    n = ops.shape(same_f)[0]
    earlier = ops.triu(ops.ones((n, n)), k=1)  # earlier[k, j] = 1 when k < j
    first = ops.equal(ops.sum(same_f * ops.transpose(earlier), axis=1), 0.0)
    candidate = ops.logical_and(first[None, :], ops.logical_not(empty))
    logits = ops.where(candidate, ops.cast(scale, "float32") * cos, -1e9)
    target = ops.logical_and(same, first[None, :])
    valid = ops.cast(ops.sum(same_f, axis=1) >= 2.0, "float32")
    log_probs = ops.log_softmax(logits, axis=1)
    per_item = -ops.sum(ops.where(target, log_probs, 0.0), axis=1)
    return ops.sum(per_item * valid) / ops.maximum(ops.sum(valid), 1.0)


def supcon_loss(labels: Any, embeddings: Any, temperature: float = 0.07) -> Any:
    """Supervised contrastive loss of a batch (Khosla et al. 2020, `L_out`); a scalar.

    Every item is an anchor; the other items of its class are its positives, every other item
    of the batch is in the denominator. A label below 0 is a class of its own (an unlinked
    item): a negative of every anchor, never an anchor.

    Formula: `L_i = -1/|P(i)| * sum_{p in P(i)} log(exp(z_i.z_p / t) / sum_{a != i} exp(z_i.z_a / t))`,
    averaged over the anchors with a positive; `z` the L2-normalised embeddings.

    Args:
        labels: `(n,)` int class of each row (-1: its own class).
        embeddings: `(n, dim)` float32.
        temperature: `t`, > 0.
    """
    unit = ops.normalize(ops.cast(embeddings, "float32"), axis=-1)
    labels = ops.reshape(labels, (-1,))
    _, positive, _ = _label_masks(labels)
    positive = ops.logical_and(positive, ops.greater_equal(labels, 0)[:, None])
    n = ops.shape(unit)[0]
    others = ops.logical_not(ops.cast(ops.eye(n), "bool"))
    logits = ops.matmul(unit, ops.transpose(unit)) / temperature
    log_prob = logits - ops.logsumexp(ops.where(others, logits, -1e9), axis=1, keepdims=True)
    pos_f = ops.cast(positive, "float32")
    count = ops.sum(pos_f, axis=1)
    per_anchor = -ops.sum(ops.where(positive, log_prob, 0.0), axis=1) / ops.maximum(count, 1.0)
    anchors = ops.cast(count > 0, "float32")
    return ops.sum(per_anchor * anchors) / ops.maximum(ops.sum(anchors), 1.0)


def cosent_loss(score: Any, cosine: Any, scale: float = 20.0) -> Any:
    """CoSENT loss of a batch of pairs (Su 2022): every two pairs whose gold scores are ordered
    should have their cosines ordered the same way; a scalar.

    Formula: `L = log(1 + sum over (i, j) with score_i < score_j of exp(scale * (cos_i - cos_j)))`.
    Only the order of `score` counts, so any graded scale works, and 0/1 labels too.

    Args:
        score: `(n,)` graded similarity, higher = more alike.
        cosine: `(n,)` cosine similarity of each pair's embeddings.
        scale: inverse temperature (20, as in sentence-transformers).
    """
    s = ops.reshape(ops.cast(score, "float32"), (-1,))
    c = ops.reshape(ops.cast(cosine, "float32"), (-1,)) * scale
    ordered = ops.less(s[:, None], s[None, :])  # (i, j): pair i is less similar than pair j
    margins = ops.where(ordered, c[:, None] - c[None, :], -1e12)
    flat = ops.concatenate([ops.zeros((1,), "float32"), ops.reshape(margins, (-1,))])
    return ops.logsumexp(flat)


class _Loss(keras.losses.Loss):
    """Shared config plumbing of the loss classes."""

    def __init__(self, name: str, **kwargs: Any) -> None:
        super().__init__(name=name, reduction=kwargs.pop("reduction", "sum_over_batch_size"), **kwargs)


class _ScaledLoss(_Loss):
    """A loss with an inverse temperature `scale` (> 0) in its config."""

    def __init__(self, scale: float, name: str, **kwargs: Any) -> None:
        if scale <= 0:
            raise ConfigError(f"Expected scale > 0. Received: scale={scale}")
        super().__init__(name=name, **kwargs)
        self.scale = scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="simsearch")
class ContrastiveLoss(_Loss):
    """Contrastive loss of `contrastive_loss`; `y_pred` is the pair distance.

    Args:
        margin: distance beyond which dissimilar pairs cost nothing.
        similar_label: the label value that means "similar". 0 is Hadsell et al.'s convention
            (the default); 1 takes DeepMatcher-style labels (1 = the same item) unchanged.
    """

    def __init__(self, margin: float = 1.0, similar_label: int = 0, name: str = "contrastive", **kwargs: Any):
        if margin <= 0:
            raise ConfigError(f"Expected margin > 0. Received: margin={margin}")
        if similar_label not in (0, 1):
            raise ConfigError(f"Expected similar_label 0 or 1. Received: similar_label={similar_label}")
        super().__init__(name=name, **kwargs)
        self.margin = margin
        self.similar_label = similar_label

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y = ops.cast(y_true, "float32")
        if self.similar_label == 1:
            y = 1.0 - y
        return contrastive_loss(y, y_pred, self.margin)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "margin": self.margin, "similar_label": self.similar_label}


@keras.saving.register_keras_serializable(package="simsearch")
class PairBCELoss(_Loss):
    """Binary cross-entropy of `pair_bce_loss`; `y_true` is 1 for the same item."""

    def __init__(self, name: str = "pair_bce", **kwargs: Any):
        super().__init__(name=name, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return pair_bce_loss(y_true, y_pred)


@keras.saving.register_keras_serializable(package="simsearch")
class TripletLoss(_Loss):
    """Triplet loss of `triplet_loss` with online mining; `y_pred` is the batch's embeddings."""

    def __init__(
        self,
        margin: float = 0.2,
        mining: str = "semi_hard",
        distance: str = "euclidean",
        name: str = "triplet",
        **kwargs: Any,
    ):
        _check_choice("mining", mining, MININGS)
        _check_choice("distance", distance, DISTANCES)
        if margin <= 0:
            raise ConfigError(f"Expected margin > 0. Received: margin={margin}")
        super().__init__(name=name, **kwargs)
        self.margin, self.mining, self.distance = margin, mining, distance

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return triplet_loss(y_true, y_pred, self.margin, self.mining, self.distance)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        return {**config, "margin": self.margin, "mining": self.mining, "distance": self.distance}


@keras.saving.register_keras_serializable(package="simsearch")
class SoftmaxLoss(_ScaledLoss):
    """Multi-negative softmax of `softmax_loss` with a set scale.

    For a learnable scale, train with `EmbeddingTrainer(learn_scale=True)`, which owns the scale
    as a weight and calls `softmax_loss` itself.
    """

    def __init__(self, scale: float = 20.0, name: str = "softmax", **kwargs: Any):
        super().__init__(scale, name=name, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return softmax_loss(y_true, y_pred, self.scale)


@keras.saving.register_keras_serializable(package="simsearch")
class SupConLoss(_Loss):
    """Supervised contrastive loss of `supcon_loss`; `y_pred` is the batch's embeddings."""

    def __init__(self, temperature: float = 0.07, name: str = "supcon", **kwargs: Any):
        if temperature <= 0:
            raise ConfigError(f"Expected temperature > 0. Received: temperature={temperature}")
        super().__init__(name=name, **kwargs)
        self.temperature = temperature

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return supcon_loss(y_true, y_pred, self.temperature)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="simsearch")
class CoSENTLoss(_ScaledLoss):
    """CoSENT ranking loss of `cosent_loss`; `y_true` is the graded score, `y_pred` the cosine."""

    def __init__(self, scale: float = 20.0, name: str = "cosent", **kwargs: Any):
        super().__init__(scale, name=name, **kwargs)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return cosent_loss(y_true, y_pred, self.scale)
