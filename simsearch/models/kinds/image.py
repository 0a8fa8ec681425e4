"""The image kind: pictures at the tower's size and channels (`towers.build_image_tower`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.errors import DataError
from simsearch.models.inputs import image_inputs
from simsearch.models.tower_factory import tower_config
from simsearch.models.towers import ImageTowerConfig, build_image_tower

SETTINGS = ImageTowerConfig  # the tower's settings and their defaults


def build(items: Items, settings: dict[str, Any]) -> tuple[keras.Model, dict[str, Any], dict[str, Any]]:
    """The image tower at the items' size; the `"linear"` architecture learns its start from
    the items' labels."""
    if items.images is None:
        raise DataError("Expected images for the image tower. Received: text or record fields")
    settings = {
        "image_size": tuple(items.images.shape[1:3]),
        "channels": items.images.shape[3],
        **settings,
    }
    if settings.get("architecture") == "pixels":  # the embedding is the flattened image
        h, w = settings["image_size"]
        settings["embedding_dim"] = int(h) * int(w) * int(settings["channels"])
    config = tower_config("image", SETTINGS, settings)
    spec = {"image_size": list(config.image_size), "channels": config.channels}
    return build_image_tower(config, items.images, items.labels), spec, dataclasses.asdict(config)


def prepare(content: Any, spec: dict[str, Any]) -> npt.NDArray[np.float32]:
    """`(n, h, w, channels) float32` in [0, 1] from arrays or image file paths."""
    return image_inputs(content, tuple(spec["image_size"]), int(spec["channels"]))


def blank(spec: dict[str, Any]) -> npt.NDArray[np.float32]:
    """One black image."""
    height, width = (int(v) for v in spec["image_size"])
    return np.zeros((1, height, width, int(spec["channels"])), np.float32)
