"""Standard `keras.applications` backbones as image-tower bodies.

A backbone is built without its classifier (`include_top=False`, global average pooling) and,
when the user gives a weights file, loaded from it: nothing is downloaded. Backbones expect
RGB in [0, 255] and carry their own preprocessing (MobileNetV3: rescaling to [-1, 1];
EfficientNet: ImageNet normalisation), so a tower built on one takes the same raw [0, 1] pixels
as the other image towers: grey images are tiled to three channels and scaled by 255 inside the
model.

Keras's ImageNet weight files for these backbones are the `*_no_top*.h5` files that
`keras.applications` would otherwise download (for example
`weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5`, `efficientnetb0_notop.h5`); a
`.weights.h5` saved from the same backbone works too.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
from keras import layers

from simsearch.errors import ConfigError

__all__ = ["BACKBONES", "MIN_BACKBONE_SIZE", "backbone_body", "build_backbone"]

logger = logging.getLogger(__name__)

MIN_BACKBONE_SIZE = 32  # the smallest input keras.applications accepts for these nets


def _mobilenet_v3_small(shape: tuple[int, int, int]) -> keras.Model:
    return keras.applications.MobileNetV3Small(
        input_shape=shape, include_top=False, weights=None, pooling="avg", include_preprocessing=True
    )


def _mobilenet_v3_large(shape: tuple[int, int, int]) -> keras.Model:
    return keras.applications.MobileNetV3Large(
        input_shape=shape, include_top=False, weights=None, pooling="avg", include_preprocessing=True
    )


def _efficientnet_b0(shape: tuple[int, int, int]) -> keras.Model:
    return keras.applications.EfficientNetB0(
        input_shape=shape, include_top=False, weights=None, pooling="avg"
    )


# Name (as in `ImageTowerConfig.architecture`) -> constructor of the headless backbone.
BACKBONES: dict[str, Callable[[tuple[int, int, int]], keras.Model]] = {
    "mobilenetv3_small": _mobilenet_v3_small,
    "mobilenetv3_large": _mobilenet_v3_large,
    "efficientnet_b0": _efficientnet_b0,
}


def build_backbone(name: str, image_size: tuple[int, int], weights: str | None = None) -> keras.Model:
    """Build the headless `name` backbone for RGB `(h, w, 3)` inputs in [0, 255].

    Args:
        name: a key of `BACKBONES`.
        image_size: `(h, w)`, each at least 32.
        weights: a local weights file of this backbone without its top (`.h5` or
            `.weights.h5`), or None for random initialisation (training from scratch).

    Raises:
        ConfigError: an unknown name, a too small image, a missing weights file or one that
            does not fit the backbone.
    """
    if name not in BACKBONES:
        raise ConfigError(f"Expected a backbone among {sorted(BACKBONES)}. Received: {name!r}")
    if min(image_size) < MIN_BACKBONE_SIZE:
        raise ConfigError(
            f"Expected image_size >= ({MIN_BACKBONE_SIZE}, {MIN_BACKBONE_SIZE}) for the {name} "
            f"backbone. Received: image_size={tuple(image_size)}"
        )
    backbone = BACKBONES[name]((*image_size, 3))
    backbone.name = f"{name}_backbone"
    if weights is not None:
        _load_weights(backbone, name, Path(weights))
    return backbone


def _load_weights(backbone: keras.Model, name: str, path: Path) -> None:
    if not path.is_file():
        raise ConfigError(f"Expected a weights file for the {name} backbone. Received: '{path}' (missing)")
    try:
        with warnings.catch_warnings():
            # Keras only warns when a `.weights.h5` file lacks some of the layers, and keeps
            # their random weights: that must be an error here.
            warnings.simplefilter("error")
            backbone.load_weights(str(path))
    except (ValueError, KeyError, OSError, TypeError, Warning) as exc:
        raise ConfigError(
            f"Expected weights of the {name} backbone without its classifier (include_top=False, "
            f"e.g. Keras's *_no_top*.h5). Received: '{path}', which does not fit ({exc})"
        ) from exc
    # Fine-tuning a pretrained net on a few hundred images: keep the batch-norm statistics it
    # learned on ImageNet (the Keras transfer-learning recipe); a frozen BatchNormalization runs
    # in inference mode.
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    logger.info("Loaded %s backbone weights from '%s'", name, path)


def backbone_body(x: Any, name: str, image_size: tuple[int, int], channels: int, weights: str | None) -> Any:
    """Feed `(n, h, w, channels)` pixels in [0, 1] through the backbone: tiled to RGB, scaled to
    [0, 255]; returns the pooled features."""
    if channels == 1:
        x = layers.Concatenate(axis=-1, name="grey_to_rgb")([x, x, x])
    x = layers.Rescaling(255.0, name="to_255")(x)
    return build_backbone(name, image_size, weights)(x)
