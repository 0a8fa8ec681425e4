"""Training wiring: the shared tower inside the models that `keras.Model.fit` trains.

- `EmbeddingTrainer`: one tower over a batch of labelled items, for batch losses (triplet with
  online mining, multi-negative softmax). It owns the learnable softmax scale, the one loss that
  needs weights of its own, through `compute_loss`.
- `PairTrainer`: the same tower applied to both items of a pair — one set of weights — giving
  their distance (contrastive loss), their cosine (CoSENT) or the pairwise head's probability
  (binary cross-entropy).

Augmentation sits in front of the tower in these trainers only, so the saved tower is clean.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from simsearch.errors import ConfigError
from simsearch.models.losses import softmax_loss

__all__ = ["EmbeddingTrainer", "PairTrainer", "embedding_distance"]


def embedding_distance(u: Any, v: Any) -> Any:
    """Return the `(n,)` Euclidean distance between rows of `u` and `v`, safe at zero."""
    squared = ops.sum(ops.square(u - v), axis=-1)
    return ops.sqrt(ops.maximum(squared, 1e-12))


class EmbeddingTrainer(keras.Model):
    """Train `tower` on batches `(items, labels)` with a batch loss.

    Args:
        tower: the tower to train; its weights are the trainer's weights.
        augment: a layer applied to the inputs in training only, or None.
        learn_scale: own a learnable softmax scale (log-parametrised, starting at
            `initial_scale`) and train with `softmax_loss`; `compile` then needs no loss.
        initial_scale: starting value of the learnable scale.
    """

    def __init__(
        self,
        tower: keras.Model,
        augment: keras.layers.Layer | None = None,
        learn_scale: bool = False,
        initial_scale: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tower = tower
        self.augment = augment
        self.learn_scale = learn_scale
        self.log_scale = (
            self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(math.log(initial_scale)),
                name="log_scale",
            )
            if learn_scale
            else None
        )

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if self.augment is not None:
            inputs = self.augment(inputs, training=training)
        return self.tower(inputs, training=training)

    def compute_loss(
        self,
        x: Any = None,
        y: Any = None,
        y_pred: Any = None,
        sample_weight: Any = None,
        training: bool = True,
    ) -> Any:
        if self.log_scale is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        scale = ops.exp(self.log_scale)
        loss = softmax_loss(y, y_pred, scale)
        losses = [loss, *self.losses] if self.losses else [loss]
        return ops.sum(ops.stack(losses)) if len(losses) > 1 else loss

    @property
    def scale(self) -> float | None:
        """The learned softmax scale, or None when it is not learned."""
        return None if self.log_scale is None else float(ops.exp(self.log_scale))


class PairTrainer(keras.Model):
    """Train `tower` on pairs `((a, b), same)`: the tower is applied to both sides.

    Args:
        tower: the shared tower.
        head: a `PairwiseHead` model over `{"u", "v"}`; when given the output is P(same) (for
            binary cross-entropy), else the embedding distance (for contrastive loss), or the
            cosine similarity with `output="cosine"` (for the CoSENT loss).
        augment: a layer applied to each side's inputs in training only, or None.
        output: `"distance"` or `"cosine"`, when there is no head.
    """

    def __init__(
        self,
        tower: keras.Model,
        head: keras.Model | None = None,
        augment: keras.layers.Layer | None = None,
        output: str = "distance",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if output not in ("distance", "cosine"):
            raise ConfigError(f"Expected output 'distance' or 'cosine'. Received: output={output!r}")
        self.tower = tower
        self.head = head
        self.augment = augment
        self.pair_output = output

    def _embed(self, inputs: Any, training: bool | None) -> Any:
        if self.augment is not None:
            inputs = self.augment(inputs, training=training)
        return self.tower(inputs, training=training)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        a, b = inputs
        u, v = self._embed(a, training), self._embed(b, training)
        if self.head is None and self.pair_output == "cosine":
            return ops.sum(ops.normalize(u, axis=-1) * ops.normalize(v, axis=-1), axis=-1)
        if self.head is None:
            return embedding_distance(u, v)
        return self.head({"u": u, "v": v}, training=training)
