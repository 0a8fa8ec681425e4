"""The face tower: a trainable residual layer on dlib's frozen 128-d face descriptor.

Route chosen (issue 17): dlib as a frozen feature extractor, its descriptors computed in the data
pipeline (`simsearch.data.faces`), under a small Keras tower. Converting dlib's ResNet to Keras
would put 29 conv layers in the graph for no gain in accuracy: with a few hundred photos of a few
dozen people there is far too little to fine-tune a net trained on ~3M faces, and the detector
and landmark model stay outside Keras in either case. The tower is `x + x W + b` with `W` and
`b` starting at zero, so before training (epoch 0) its distances are exactly dlib's Euclidean
distances, and training moves them from there; `train_items` keeps that frozen state when
training does not beat it on the held-out people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from simsearch.data.faces import DESCRIPTOR_DIM
from simsearch.errors import ConfigError

__all__ = ["FACE_INPUT", "FaceTowerConfig", "ResidualDense", "build_face_tower"]

FACE_INPUT = "descriptor"


@dataclass(frozen=True)
class FaceTowerConfig:
    """Settings of the face tower on dlib descriptors.

    Attributes:
        normalize: L2-normalise the output (metric cosine); False keeps dlib's Euclidean
            distance (metric l2, where dlib's own threshold is 0.6).
        dropout: dropout on the descriptor in training.
    """

    normalize: bool = False
    dropout: float = 0.0


@keras.saving.register_keras_serializable(package="simsearch")
class ResidualDense(keras.layers.Layer):
    """`y = x + x W + b`, a dense map around the identity; `W` and `b` start at zero.

    Example:
    >>> layer = ResidualDense()
    >>> bool(np.allclose(layer(x), x))   # before training
    True
    """

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        dim = int(input_shape[-1])  # type: ignore[arg-type]
        self.kernel = self.add_weight(shape=(dim, dim), initializer="zeros", name="kernel")
        self.bias = self.add_weight(shape=(dim,), initializer="zeros", name="bias")

    def call(self, inputs: Any) -> Any:
        return inputs + keras.ops.matmul(inputs, self.kernel) + self.bias

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


def build_face_tower(config: FaceTowerConfig = FaceTowerConfig()) -> keras.Model:
    """Build the face tower: `(n, 128) float32` dlib descriptors -> `(n, 128)` embeddings.

    Example:
    >>> tower = build_face_tower()
    >>> tower(np.zeros((2, 128), "float32")).shape
    (2, 128)
    """
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"Expected 0 <= dropout < 1. Received: dropout={config.dropout}")
    inputs = keras.Input((DESCRIPTOR_DIM,), name=FACE_INPUT)
    x = layers.Dropout(config.dropout)(inputs) if config.dropout else inputs
    outputs = ResidualDense(name="residual")(x)
    if config.normalize:
        outputs = layers.UnitNormalization(name="l2_normalize")(outputs)
    return keras.Model(inputs, outputs, name="face_tower")
