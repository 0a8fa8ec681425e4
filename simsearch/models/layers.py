"""Layers of simsearch's towers that Keras does not ship: random affine augmentation.

L2 normalisation uses Keras's own `UnitNormalization`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

__all__ = ["RandomAffine"]


@keras.saving.register_keras_serializable(package="simsearch")
class RandomAffine(keras.layers.Layer):
    """Randomly rotate, shift, scale and shear images, in training only.

    One affine map per image, as in Koch et al. (2015): rotation in ±`rotation` degrees, shear in
    ±`shear`, scale in 1 ± `scale`, shift in ±`shift` of the image size. At inference it is the
    identity, so the same tower serves training and search.

    Args:
        rotation: largest rotation, in degrees.
        shear: largest shear factor.
        scale: largest relative zoom in or out.
        shift: largest shift, as a fraction of height and width.
        fill_mode: how to fill pixels from outside the image (`"nearest"`, `"constant"`, ...).
        fill_value: the value used with `fill_mode="constant"`.
        seed: seed of the layer's random generator.

    Example:
    >>> layer = RandomAffine(rotation=10, shear=0.3, scale=0.2, shift=0.05)
    >>> out = layer(images, training=True)
    """

    def __init__(
        self,
        rotation: float = 10.0,
        shear: float = 0.3,
        scale: float = 0.2,
        shift: float = 0.05,
        fill_mode: str = "nearest",
        fill_value: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rotation = rotation
        self.shear = shear
        self.scale = scale
        self.shift = shift
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _uniform(self, n: Any, bound: float) -> Any:
        return keras.random.uniform((n,), -bound, bound, seed=self.seed_generator)

    def _transforms(self, n: Any, height: Any, width: Any) -> Any:
        # The matrix maps an output pixel back to the input pixel it is read from.
        theta = self._uniform(n, self.rotation * math.pi / 180.0)
        shear = self._uniform(n, self.shear)
        zoom = 1.0 + self._uniform(n, self.scale)
        tx = self._uniform(n, self.shift) * width
        ty = self._uniform(n, self.shift) * height
        cos, sin = ops.cos(theta) / zoom, ops.sin(theta) / zoom
        a0, a1 = cos, -sin + shear * cos
        b0, b1 = sin, cos + shear * sin
        cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
        a2 = cx - a0 * cx - a1 * cy + tx
        b2 = cy - b0 * cx - b1 * cy + ty
        zeros = ops.zeros_like(theta)
        return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if not training:
            return inputs
        shape = ops.shape(inputs)
        height = ops.cast(shape[1], "float32")
        width = ops.cast(shape[2], "float32")
        transforms = self._transforms(shape[0], height, width)
        return ops.image.affine_transform(
            inputs,
            transforms,
            interpolation="bilinear",
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
        )

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "rotation": self.rotation,
                "shear": self.shear,
                "scale": self.scale,
                "shift": self.shift,
                "fill_mode": self.fill_mode,
                "fill_value": self.fill_value,
                "seed": self.seed,
            }
        )
        return config
