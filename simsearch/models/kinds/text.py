"""The text kind: one string per item, or records' text fields joined (`towers.build_text_tower`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from simsearch.data.items import Items
from simsearch.models.inputs import TEXT_INPUT, text_inputs
from simsearch.models.tower_factory import split_fields, tower_config
from simsearch.models.towers import TextTowerConfig, build_text_tower

SETTINGS = TextTowerConfig  # the tower's settings and their defaults


def build(items: Items, settings: dict[str, Any]) -> tuple[keras.Model, dict[str, Any], dict[str, Any]]:
    """The text tower, its vocabularies adapted from the items' text fields."""
    text_fields, _ = split_fields(items, settings)
    own = {k: v for k, v in settings.items() if k not in ("text_fields", "numeric_fields")}
    config = tower_config("text", SETTINGS, own)
    spec = {"text_fields": text_fields}
    tower = build_text_tower(prepare(items.content(), spec)[TEXT_INPUT], config)
    if config.architecture == "pretrained":  # the embedding is the encoder's width
        config = dataclasses.replace(config, embedding_dim=int(tower.output_shape[-1]))
    return tower, spec, dataclasses.asdict(config)


def prepare(content: Any, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """`{"text": (n,) object}` from strings or records (the spec's text fields joined)."""
    return text_inputs(content, list(spec.get("text_fields", [])))


def blank(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """One empty text."""
    return {TEXT_INPUT: np.asarray([""], dtype=object)}
