"""The pairwise head: scores a pair of embeddings into the probability that they are the same.

It is the re-ranker of search and dedup, so it is saved as its own `.keras` model
(`head.keras`: inputs `u`, `v` of width `dim`, output `(n,)` probability) and runs without the
tower.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from simsearch.errors import ConfigError

__all__ = ["PairwiseHead", "build_head_model"]


@keras.saving.register_keras_serializable(package="simsearch")
class PairwiseHead(layers.Layer):
    """Score a pair `(u, v)` of `(n, dim)` embeddings into `(n,)` P(same).

    Features: `|u - v|`, `u * v`, `(u - v)**2` through a small MLP, plus the cosine similarity
    fed straight to the output unit, so the head starts from the tower's own ranking and can only
    add to it. Two calibration weights map the logit to a probability,
    `p = sigmoid(calibration_scale * logit + calibration_bias)` (Platt scaling); they are fitted
    after a listwise training, which fixes only the order.

    Args:
        hidden: widths of the hidden layers.
        dropout: dropout after each hidden layer, in training only.

    Example:
    >>> head = PairwiseHead(hidden=(64,))
    >>> p = head([u, v])   # (n,) in (0, 1)
    """

    def __init__(
        self,
        hidden: Sequence[int] = (128,),
        dropout: float = 0.1,
        cos_scale: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if any(width <= 0 for width in hidden):
            raise ConfigError(f"Expected positive hidden widths. Received: hidden={list(hidden)}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"Expected 0 <= dropout < 1. Received: dropout={dropout}")
        self.hidden = tuple(int(width) for width in hidden)
        self.dropout = dropout
        self.cos_scale = float(cos_scale)
        # Towers can put every item in a narrow cone; normalising the features keeps the MLP
        # sensitive to the small differences that separate near neighbours.
        self.norm = layers.BatchNormalization()
        self.dense = [layers.Dense(width, activation="relu") for width in self.hidden]
        self.drop = layers.Dropout(dropout)
        # Zero-initialised: the untrained head ranks exactly as the scaled cosine does.
        self.out = layers.Dense(1, kernel_initializer="zeros")
        self.cos_weight = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.cos_scale), name="cos_weight"
        )
        # Non-negative, so calibration never reverses the order the head ranks pairs in.
        self.calibration_scale = self.add_weight(
            shape=(), initializer="ones", constraint=keras.constraints.NonNeg(), name="calibration_scale"
        )
        self.calibration_bias = self.add_weight(shape=(), initializer="zeros", name="calibration_bias")

    def build(self, input_shape: Any) -> None:
        dim = input_shape[0][-1]
        width = 3 * dim
        self.norm.build((None, width))
        for dense in self.dense:
            dense.build((None, width))
            width = dense.units
        self.out.build((None, width))

    def logits(self, u: Any, v: Any, training: bool | None = None) -> Any:
        """Return the uncalibrated `(n,)` logits: the order the head ranks pairs in."""
        u, v = ops.cast(u, "float32"), ops.cast(v, "float32")
        diff = u - v
        x = ops.concatenate([ops.abs(diff), u * v, ops.square(diff)], axis=-1)
        x = self.norm(x, training=training)
        for dense in self.dense:
            x = self.drop(dense(x), training=training)
        cos = ops.sum(ops.normalize(u, axis=-1) * ops.normalize(v, axis=-1), axis=-1)
        return ops.squeeze(self.out(x), axis=-1) + self.cos_weight * cos

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        u, v = inputs
        logit = self.logits(u, v, training=training)
        return ops.sigmoid(self.calibration_scale * logit + self.calibration_bias)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None]:
        return (input_shape[0][0],)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        return {**config, "hidden": list(self.hidden), "dropout": self.dropout, "cos_scale": self.cos_scale}


def build_head_model(
    dim: int, hidden: Sequence[int] = (128,), dropout: float = 0.1, cos_scale: float = 10.0
) -> keras.Model:
    """Wrap a `PairwiseHead` as a model with inputs `u`, `v` of width `dim`: the re-ranker.

    `cos_scale` starts the weight of the cosine path; the tower's softmax scale is a good value.
    """
    if dim <= 0:
        raise ConfigError(f"Expected dim > 0. Received: dim={dim}")
    u = keras.Input((dim,), name="u")
    v = keras.Input((dim,), name="v")
    probability = PairwiseHead(hidden, dropout, cos_scale, name="pairwise_head")([u, v])
    return keras.Model({"u": u, "v": v}, probability, name="head")
