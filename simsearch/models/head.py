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
    add to it.

    Args:
        hidden: widths of the hidden layers.
        dropout: dropout after each hidden layer, in training only.

    Example:
    >>> head = PairwiseHead(hidden=(64,))
    >>> p = head([u, v])   # (n,) in (0, 1)
    """

    def __init__(self, hidden: Sequence[int] = (128,), dropout: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if any(width <= 0 for width in hidden):
            raise ConfigError(f"Expected positive hidden widths. Received: hidden={list(hidden)}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"Expected 0 <= dropout < 1. Received: dropout={dropout}")
        self.hidden = tuple(int(width) for width in hidden)
        self.dropout = dropout
        self.dense = [layers.Dense(width, activation="relu") for width in self.hidden]
        self.drop = layers.Dropout(dropout)
        self.out = layers.Dense(1)
        self.cos_weight = self.add_weight(shape=(), initializer=keras.initializers.Constant(5.0), name="cos_weight")

    def build(self, input_shape: Any) -> None:
        dim = input_shape[0][-1]
        width = 3 * dim
        for dense in self.dense:
            dense.build((None, width))
            width = dense.units
        self.out.build((None, width))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        u, v = (ops.cast(t, "float32") for t in inputs)
        diff = u - v
        x = ops.concatenate([ops.abs(diff), u * v, ops.square(diff)], axis=-1)
        for dense in self.dense:
            x = self.drop(dense(x), training=training)
        cos = ops.sum(ops.normalize(u, axis=-1) * ops.normalize(v, axis=-1), axis=-1)
        logit = ops.squeeze(self.out(x), axis=-1) + self.cos_weight * cos
        return ops.sigmoid(logit)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None]:
        return (input_shape[0][0],)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "hidden": list(self.hidden), "dropout": self.dropout}


def build_head_model(dim: int, hidden: Sequence[int] = (128,), dropout: float = 0.1) -> keras.Model:
    """Wrap a `PairwiseHead` as a model with inputs `u`, `v` of width `dim`: the re-ranker."""
    if dim <= 0:
        raise ConfigError(f"Expected dim > 0. Received: dim={dim}")
    u = keras.Input((dim,), name="u")
    v = keras.Input((dim,), name="v")
    probability = PairwiseHead(hidden, dropout, name="pairwise_head")([u, v])
    return keras.Model({"u": u, "v": v}, probability, name="head")
