"""The record kind: text and numeric fields, one tower input each (`towers.build_record_tower`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from simsearch.data.items import Items
from simsearch.models.inputs import record_inputs, table_inputs
from simsearch.models.tower_factory import split_fields, tower_config
from simsearch.models.towers import RecordTowerConfig, build_record_tower

SETTINGS = RecordTowerConfig  # the tower's settings and their defaults


def build(items: Items, settings: dict[str, Any]) -> tuple[keras.Model, dict[str, Any], dict[str, Any]]:
    """The record tower over the fields as set, else as typed from the items' values."""
    text_fields, numeric_fields = split_fields(items, settings)
    config = tower_config(
        "record",
        SETTINGS,
        {**settings, "text_fields": tuple(text_fields), "numeric_fields": tuple(numeric_fields)},
    )
    spec = {"text_fields": text_fields, "numeric_fields": numeric_fields}
    return build_record_tower(prepare(items.content(), spec), config), spec, dataclasses.asdict(config)


def prepare(content: Any, spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """One column per field: text as object arrays, numbers as float32 (NaN when missing)."""
    return record_inputs(content, list(spec.get("text_fields", [])), list(spec.get("numeric_fields", [])))


def blank(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """One record with every field missing."""
    text_fields = list(spec.get("text_fields", []))
    numeric_fields = list(spec.get("numeric_fields", []))
    columns = {**{name: [""] for name in text_fields}, **{name: [None] for name in numeric_fields}}
    return table_inputs(columns, text_fields, numeric_fields)


def field_weights(tower: keras.Model, spec: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each field's learned weights in the linear and hybrid towers: a text field's weight on the
    character n-gram and word bags (`chars`, `words`; with more than one text field), a numeric
    field's on its kernel blocks (`kernel 0.1`: of width 0.1); none in the MLP tower."""
    layers = {layer.name: layer for layer in tower.layers}
    out: dict[str, dict[str, float]] = {}
    for name in spec.get("text_fields", []):
        for unit in ("char", "word"):
            layer = layers.get(f"{name}_{unit}_field_weight")
            if layer is not None:
                out.setdefault(name, {})[f"{unit}s"] = float(np.exp(layer.log_scale.numpy()))
    for name in spec.get("numeric_fields", []):
        j = 0
        while f"{name}_kernel_weight_{j}" in layers:
            sigma = layers[f"{name}_kernel_{j}"].sigma
            out.setdefault(name, {})[f"kernel {sigma:g}"] = float(
                layers[f"{name}_kernel_weight_{j}"].scale.numpy()
            )
            j += 1
    return out
