"""Keras layers of the record tower: numeric columns (`NumericEncoding`, `NumericKernel`) and
the weights over its bags (`Scale`, `FeatureWeights`, `DropOutOfVocabulary`).

Registered as `simsearch>NAME`, so saved models load whatever module defines them.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers, ops

from simsearch.errors import ConfigError

__all__ = ["DropOutOfVocabulary", "FeatureWeights", "NumericEncoding", "NumericKernel", "Scale"]


def _signed_log(inputs: Any) -> tuple[Any, Any]:
    """A numeric column as `(n, 1)` `sign(x) * log1p(|x|)` (0 where missing) and its NaN mask."""
    x = ops.reshape(ops.cast(inputs, "float32"), (-1, 1))
    missing = ops.isnan(x)
    clean = ops.where(missing, 0.0, x)
    return ops.sign(clean) * ops.log1p(ops.abs(clean)), missing


@keras.saving.register_keras_serializable(package="simsearch")
class NumericEncoding(layers.Layer):
    """Encode a numeric column as `[sign(x) * log1p(|x|), is_missing]`, NaN read as missing."""

    def call(self, inputs: Any) -> Any:
        value, missing = _signed_log(inputs)
        return ops.concatenate([value, ops.cast(missing, "float32")], axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, int]:
        return (input_shape[0], 2)


@keras.saving.register_keras_serializable(package="simsearch")
class NumericKernel(layers.Layer):
    """Encode a numeric column as random Fourier features (Rahimi & Recht 2007) of its signed
    log, `z = sign(x) * log1p(|x|)`, so that the inner product of two encodings approximates the
    Gaussian kernel `exp(-(z_a - z_b)**2 / (2 * sigma**2))`: 1 for equal values, near 0 for
    values whose ratio is far from 1 on the `sigma` scale. A missing value (NaN) encodes as
    zeros: it neither agrees nor disagrees.

    The frequencies and phases are drawn once from `seed` and saved with the model (not trained).

    Args:
        features: width of the encoding; the kernel's error is about `features**-0.5`.
        sigma: the kernel's width on the log scale (0.3: prices 25% apart agree at 0.7).
        seed: the random draw.
    """

    def __init__(self, features: int = 64, sigma: float = 0.3, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, value in {"features": features, "sigma": sigma}.items():
            if value <= 0:
                raise ConfigError(f"Expected {name} > 0. Received: {name}={value}")
        self.features, self.sigma, self.seed = int(features), float(sigma), int(seed)

    def build(self, input_shape: Any) -> None:
        self.frequencies = self.add_weight(
            shape=(self.features,),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.sigma, seed=self.seed),
            trainable=False,
            name="frequencies",
        )
        self.phases = self.add_weight(
            shape=(self.features,),
            initializer=keras.initializers.RandomUniform(0.0, 2.0 * np.pi, seed=self.seed + 1),
            trainable=False,
            name="phases",
        )

    def call(self, inputs: Any) -> Any:
        z, missing = _signed_log(inputs)
        phi = np.sqrt(2.0 / self.features) * ops.cos(z * self.frequencies[None, :] + self.phases[None, :])
        return ops.where(missing, 0.0, phi)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, int]:
        return (input_shape[0], self.features)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "features": self.features, "sigma": self.sigma, "seed": self.seed}


@keras.saving.register_keras_serializable(package="simsearch")
class Scale(layers.Layer):
    """Multiply by one learned scalar, initialised to `value`."""

    def __init__(self, value: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value = float(value)

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.value), name="scale"
        )

    def call(self, inputs: Any) -> Any:
        return inputs * self.scale

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package="simsearch")
class FeatureWeights(layers.Layer):
    """Multiply each input feature by a learned positive weight, `exp(theta)`, initialised to 1.

    On a TF-IDF bag it learns which n-grams matter (model numbers) and which do not (filler), with
    one parameter per n-gram: far fewer than a dense projection, so it does not memorise a few
    thousand training pairs.
    """

    def build(self, input_shape: Any) -> None:
        self.log_weight = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="log_weight")

    def call(self, inputs: Any) -> Any:
        return inputs * ops.exp(self.log_weight)


@keras.saving.register_keras_serializable(package="simsearch")
class DropOutOfVocabulary(layers.Layer):
    """Zero the first feature of a `TextVectorization` bag: the out-of-vocabulary count.

    Kept to load models saved before `bags.SublinearTfIdf` (idf 0 for that feature) replaced it.

    Every n-gram the vocabulary lacks lands in that one feature, so in a TF-IDF bag it carries
    most of a new text's weight (76% of the squared norm of MRPC sentences against a vocabulary
    from 600 training sentences) and makes any two texts look alike: cosine retrieval fell from
    96.3% (scikit-learn's TF-IDF, which drops unknown n-grams) to 81.3%. Dropped, the bag's
    cosine is scikit-learn's.
    """

    def call(self, inputs: Any) -> Any:
        return ops.concatenate([ops.zeros_like(inputs[:, :1]), inputs[:, 1:]], axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape
