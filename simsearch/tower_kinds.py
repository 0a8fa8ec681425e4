"""The tower kinds, one `TowerKind` record each, readable without TensorFlow.

A model's kind (`config.json`'s `"kind"`, `train --tower`) says what it encodes. Whatever
simsearch does differently for a kind (how its catalogue and queries are read, which options
`train` takes, its baseline, whether it retrains from pairs) asks the kind's record here, never
its name, so the CLI and the server can ask "does this model read pictures" without Keras.

Each record names the module that does the kind's Keras work, imported on first use:

- `SETTINGS`: the frozen dataclass of the tower's settings and their defaults;
- `build(items, settings) -> (tower, inputs_spec, settings)`: the tower for training items;
- `prepare(content, spec)`: raw content (image paths or arrays, texts, records) as the tower
  takes it, given the saved input spec;
- `blank(spec)`: one blank item as the tower takes it;
- optionally `field_weights(tower, spec)`: the tower's learned weight of each input field, which
  explanations show (`simsearch.search.explain`).

To add a kind: write its module under `simsearch/models/kinds/` and add one `TowerKind` line
to `TOWER_KINDS` (docs/architecture.md, "Towers").
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from simsearch.errors import ConfigError

__all__ = ["TOWERS", "TOWER_KINDS", "Baseline", "TowerKind", "tower_kind"]

Catalogue = Literal["images", "faces", "table"]
Item = Literal["image", "text", "record"]


@dataclass(frozen=True)
class Baseline:
    """A kind's non-learned baseline tower, which a trained tower must beat to be saved.

    Attributes:
        architecture: the baseline's architecture (`"pixels"`, the TF-IDF `"linear"`).
        keeps: the tower settings it keeps (the inputs it reads, its metric).
        fixed: settings it always has, as `(name, value)` pairs.
    """

    architecture: str
    keeps: tuple[str, ...]
    fixed: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class TowerKind:
    """One tower kind: its name, its module and what the rest of simsearch asks about it.

    Attributes:
        name: the kind's name (`train --tower`, `config.json`'s `"kind"`).
        module: the module with its `build`, `prepare` and `blank`, imported on first use.
        catalogue: how a catalogue or a query set of this kind is read: `"images"` (an image
            folder, `.zip` or `.npz`, at the tower's size), `"faces"` (photos at their own size,
            in which a face is found) or `"table"` (CSV / JSONL fields).
        item: what one raw item is: `"image"` (a file or array), `"text"` (a string) or
            `"record"` (a JSON object of fields); `query --image/--text/--record`.
        architectures: the architectures `train --architecture` offers, its default first.
        baseline: the non-learned baseline, or None when the tower starts as one (faces).
        trains_on_pairs: trains from labelled pairs (`train --pairs`, retraining from the
            review page).
        augments: random affine augmentation in training (`TrainConfig.augment`).
        typed_fields: fields typed text or numeric (`--numeric-fields`, `--numeric-scales`).
        monitor: the held-out metric training on labelled items follows by default.
        train_defaults: `train` options that default otherwise for this kind's default
            architecture, as `(option, value)` pairs (an option given on the command line wins).
    """

    name: str
    module: str
    catalogue: Catalogue
    item: Item
    architectures: tuple[str, ...] = ()
    baseline: Baseline | None = None
    trains_on_pairs: bool = True
    augments: bool = False
    typed_fields: bool = False
    monitor: str = "val_precision_at_1"
    train_defaults: tuple[tuple[str, Any], ...] = ()

    @property
    def is_image(self) -> bool:
        """Reads pictures (images or photos of faces), not fields."""
        return self.catalogue != "table"

    @property
    def finds_faces(self) -> bool:
        """Reads photos in which a face is found (`simsearch.data.faces`, face-finding options)."""
        return self.catalogue == "faces"

    @property
    def default_architecture(self) -> str | None:
        return self.architectures[0] if self.architectures else None

    def baseline_settings(self, settings: dict[str, Any]) -> dict[str, Any] | None:
        """The settings of the non-learned baseline of the tower built from `settings`, or None
        when that tower starts as its baseline (raw pixels, the linear text and record towers,
        dlib's frozen face descriptor)."""
        if self.baseline is None or (settings.get("architecture") or self.default_architecture) == (
            self.baseline.architecture
        ):
            return None
        kept = {k: settings[k] for k in self.baseline.keeps if k in settings}
        return {**kept, **dict(self.baseline.fixed), "architecture": self.baseline.architecture}

    def implementation(self) -> ModuleType:
        """The kind's module (importing it imports Keras)."""
        return importlib.import_module(self.module)

    def settings_class(self) -> type:
        """The dataclass of the tower's settings, with their defaults."""
        cls: type = self.implementation().SETTINGS
        return cls

    def build(self, items: Any, settings: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        """`(tower, inputs_spec, settings)` of the tower built for `items` from `settings`."""
        result: tuple[Any, dict[str, Any], dict[str, Any]] = self.implementation().build(items, settings)
        return result

    def prepare(self, content: Any, spec: dict[str, Any]) -> Any:
        """The tower's inputs for raw `content`, given the model's input `spec`."""
        return self.implementation().prepare(content, spec)

    def blank(self, spec: dict[str, Any]) -> Any:
        """One blank item as the tower takes it (black image, zero descriptor, empty fields)."""
        return self.implementation().blank(spec)

    def field_weights(self, tower: Any, spec: dict[str, Any]) -> dict[str, dict[str, float]]:
        """The tower's learned weights of each input field, `{field: {name: weight}}`, where the
        kind's module defines `field_weights` (the record tower's); else none."""
        weights = getattr(self.implementation(), "field_weights", None)
        return {} if weights is None else dict(weights(tower, spec))


_IMAGE_ARCHITECTURES = (
    *("light", "koch", "mobilenetv3_small", "mobilenetv3_large", "efficientnet_b0"),
    *("pixels", "linear"),
)
# Nearest neighbour on raw pixels is Euclidean: a cosine of photos with a bright background sees
# mostly the background (72% against 82%).
_PIXELS = Baseline("pixels", ("image_size", "channels", "invert", "normalize"), (("normalize", False),))

# A pretrained encoder on a CPU: supervised contrastive batches of 16 clusters x 2 records at
# R-SupCon's learning rate, epochs sized so that each DeepMatcher product set trains within 90
# minutes on 2 cores (about 7 records/s at 64 tokens when training, 12/s encoding).
_LM_TRAINING = (
    ("loss", "supcon"), ("learning_rate", 5e-5), ("encoder_learning_rate", 5e-5),
    ("batch_size", 32), ("steps_per_epoch", 50), ("epochs", 6), ("patience", 2),
)  # fmt: skip
_KINDS = "simsearch.models.kinds"
TOWER_KINDS: dict[str, TowerKind] = {
    kind.name: kind
    for kind in (
        TowerKind("image", f"{_KINDS}.image", "images", "image", _IMAGE_ARCHITECTURES, _PIXELS,
                  augments=True),
        TowerKind("text", f"{_KINDS}.text", "table", "text", ("linear", "sequence", "pretrained"),
                  Baseline("linear", ("normalize",))),
        TowerKind("record", f"{_KINDS}.record", "table", "record", ("linear", "mlp", "hybrid"),
                  Baseline("linear", ("text_fields", "numeric_fields", "normalize")), typed_fields=True),
        TowerKind("lm_record", f"{_KINDS}.lm_record", "table", "record", ("encoder", "linear"),
                  Baseline("linear", ("text_fields", "numeric_fields", "normalize")), typed_fields=True,
                  train_defaults=_LM_TRAINING),
        TowerKind("face", f"{_KINDS}.face", "faces", "image", trains_on_pairs=False,
                  monitor="val_tar_at_far"),
    )
}  # fmt: skip
TOWERS = tuple(TOWER_KINDS)


def tower_kind(name: object) -> TowerKind:
    """The record of the tower kind `name`.

    Raises:
        ConfigError: not a registered kind.

    Example:
    >>> tower_kind("face").is_image
    True
    """
    kind = TOWER_KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ConfigError(f"Expected tower to be one of {list(TOWERS)}. Received: tower={name!r}")
    return kind
