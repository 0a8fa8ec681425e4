"""The face kind: photos in which dlib finds, aligns and describes a face, under a residual
layer (`face_tower.build_face_tower`); the face-finding settings (`FaceConfig`) are the spec's."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import numpy.typing as npt

from simsearch.data.faces import DESCRIPTOR_DIM, FaceConfig
from simsearch.data.items import Items
from simsearch.errors import DataError
from simsearch.models.face_tower import FaceTowerConfig, build_face_tower
from simsearch.models.inputs import face_inputs
from simsearch.models.tower_factory import tower_config

SETTINGS = FaceTowerConfig  # the tower's settings and their defaults


def build(items: Items, settings: dict[str, Any]) -> tuple[keras.Model, dict[str, Any], dict[str, Any]]:
    """The face tower; the face-finding settings go to the input spec, where `prepare` reads
    them to turn photos into dlib descriptors."""
    if items.images is None:
        raise DataError("Expected photos for the face tower. Received: text or record fields")
    face_names = {f.name for f in dataclasses.fields(FaceConfig)}
    face = FaceConfig(**{k: v for k, v in settings.items() if k in face_names})
    config = tower_config("face", SETTINGS, {k: v for k, v in settings.items() if k not in face_names})
    return build_face_tower(config), {"face": dataclasses.asdict(face)}, dataclasses.asdict(config)


def prepare(content: Any, spec: dict[str, Any]) -> npt.NDArray[np.float32]:
    """`(n, 128) float32` descriptors of photos (paths or arrays); descriptors pass as they are."""
    return face_inputs(content, spec)


def blank(spec: dict[str, Any]) -> npt.NDArray[np.float32]:
    """One zero descriptor."""
    return np.zeros((1, DESCRIPTOR_DIM), np.float32)
