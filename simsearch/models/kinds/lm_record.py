"""The lm_record kind: records serialised as Ditto writes them, read by a pretrained language
model (`lm_tower.build_lm_record_tower`); its baseline is the record kind's TF-IDF tower."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from simsearch.data.items import Items
from simsearch.models.kinds import record
from simsearch.models.lm_tower import LMRecordTowerConfig, build_lm_record_tower
from simsearch.models.tower_factory import split_fields, tower_config

SETTINGS = LMRecordTowerConfig  # the tower's settings and their defaults


def build(items: Items, settings: dict[str, Any]) -> tuple[keras.Model, dict[str, Any], dict[str, Any]]:
    """The encoder tower over the fields as set, else as typed from the items' values; the
    TF-IDF record tower for `architecture="linear"` (the baseline)."""
    if settings.get("architecture") == "linear":
        return record.build(items, settings)
    text_fields, numeric_fields = split_fields(items, settings)
    config = tower_config(
        "lm_record",
        SETTINGS,
        {**settings, "text_fields": tuple(text_fields), "numeric_fields": tuple(numeric_fields)},
    )
    spec = {"text_fields": text_fields, "numeric_fields": numeric_fields}
    tower = build_lm_record_tower(prepare(items.content(), spec), config)
    return tower, spec, dataclasses.asdict(config)


def prepare(content: Any, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """One column per field, as the record kind reads them."""
    return record.prepare(content, spec)


def blank(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """One record with every field missing."""
    return record.blank(spec)
