"""Build a tower by name from training items, returning it with its input spec and settings."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from simsearch.data.faces import FaceConfig
from simsearch.data.field_types import choose_field_types
from simsearch.data.items import Items
from simsearch.errors import ConfigError, DataError
from simsearch.models.face_tower import FaceTowerConfig, build_face_tower
from simsearch.models.inputs import prepare_inputs
from simsearch.models.towers import (
    ImageTowerConfig,
    RecordTowerConfig,
    TextTowerConfig,
    build_image_tower,
    build_record_tower,
    build_text_tower,
)
from simsearch.train_config import TOWERS

__all__ = ["TOWERS", "build_tower"]

_CONFIGS: dict[str, type] = {
    "image": ImageTowerConfig,
    "text": TextTowerConfig,
    "record": RecordTowerConfig,
    "face": FaceTowerConfig,
}


def _settings(kind: str, settings: dict[str, Any]) -> Any:
    cls = _CONFIGS[kind]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"Expected {kind} tower settings among {sorted(known)}. Received: {unknown}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return cls(**values)


def build_tower(
    kind: str, items: Items, settings: dict[str, Any]
) -> tuple[keras.Model, dict[str, Any], dict[str, Any]]:
    """Build the `kind` tower for `items`; text vocabularies are adapted from `items`.

    Returns:
        `(tower, inputs_spec, settings)`: the spec is what `prepare_inputs` needs at encode time.
    """
    if kind not in TOWERS:
        raise ConfigError(f"Expected tower to be one of {list(TOWERS)}. Received: tower={kind!r}")
    if kind == "face":
        return _face_tower(items, settings)
    if kind == "image":
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
        config = _settings(kind, settings)
        spec = {"image_size": list(config.image_size), "channels": config.channels}
        return build_image_tower(config, items.images, items.labels), spec, dataclasses.asdict(config)
    text_fields, numeric_fields = split_fields(items, settings)
    if kind == "text":
        config = _settings(
            kind, {k: v for k, v in settings.items() if k not in ("text_fields", "numeric_fields")}
        )
        spec = {"text_fields": text_fields}
        texts = prepare_inputs(items.content(), "text", spec)["text"]
        tower = build_text_tower(texts, config)
        if config.architecture == "pretrained":  # the embedding is the encoder's width
            config = dataclasses.replace(config, embedding_dim=int(tower.output_shape[-1]))
        return tower, spec, dataclasses.asdict(config)
    config = _settings(
        kind, {**settings, "text_fields": tuple(text_fields), "numeric_fields": tuple(numeric_fields)}
    )
    spec = {"text_fields": text_fields, "numeric_fields": numeric_fields}
    columns = prepare_inputs(items.content(), "record", spec)
    return build_record_tower(columns, config), spec, dataclasses.asdict(config)


def _face_tower(items: Items, settings: dict[str, Any]) -> tuple[keras.Model, dict[str, Any], dict[str, Any]]:
    """The face tower; the face-finding settings (`FaceConfig`) go to the input spec, where
    `prepare_inputs` reads them to turn photos into dlib descriptors."""
    if items.images is None:
        raise DataError("Expected photos for the face tower. Received: text or record fields")
    face_names = {f.name for f in dataclasses.fields(FaceConfig)}
    face = FaceConfig(**{k: v for k, v in settings.items() if k in face_names})
    config = _settings("face", {k: v for k, v in settings.items() if k not in face_names})
    return build_face_tower(config), {"face": dataclasses.asdict(face)}, dataclasses.asdict(config)


def split_fields(items: Items, settings: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Text and numeric fields: as set, else inferred from the values
    (`simsearch.data.field_types`: numbers only where a ratio means something)."""
    if "text_fields" in settings or "numeric_fields" in settings:
        return list(settings.get("text_fields", ())), list(settings.get("numeric_fields", ()))
    types = choose_field_types(items.fields)
    return [t.name for t in types if t.kind == "text"], [t.name for t in types if t.kind == "numeric"]
