"""Build a tower by name from training items, returning it with its input spec and settings.

The tower kind's module (`simsearch.tower_kinds`, `simsearch.models.kinds`) builds it; the helpers
here read settings the way every kind's module does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from simsearch.data.field_types import choose_field_types
from simsearch.data.items import Items
from simsearch.errors import ConfigError
from simsearch.tower_kinds import TOWERS, tower_kind

__all__ = ["TOWERS", "build_tower", "split_fields", "tower_config"]


def build_tower(
    kind: str, items: Items, settings: dict[str, Any]
) -> tuple[keras.Model, dict[str, Any], dict[str, Any]]:
    """Build the `kind` tower for `items`; text vocabularies are adapted from `items`.

    Returns:
        `(tower, inputs_spec, settings)`: the spec is what `prepare_inputs` needs at encode time.
    """
    return tower_kind(kind).build(items, settings)


def tower_config(kind: str, cls: type, settings: dict[str, Any]) -> Any:
    """The `kind` tower's settings dataclass `cls` from `settings` (lists become tuples).

    Raises:
        ConfigError: a setting `cls` does not have.
    """
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError(f"Expected {kind} tower settings among {sorted(known)}. Received: {unknown}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return cls(**values)


def split_fields(items: Items, settings: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Text and numeric fields: as set, else inferred from the values
    (`simsearch.data.field_types`: numbers only where a ratio means something)."""
    if "text_fields" in settings or "numeric_fields" in settings:
        return list(settings.get("text_fields", ())), list(settings.get("numeric_fields", ()))
    types = choose_field_types(items.fields)
    return [t.name for t in types if t.kind == "text"], [t.name for t in types if t.kind == "numeric"]
