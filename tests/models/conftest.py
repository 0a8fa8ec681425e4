"""Fixtures of the models tests: a small slice of the bundled Omniglot sample, a tiny untrained
tower, and tiny models trained once per session (a few seconds each on 2 CPU cores)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

from simsearch.data.items import Items
from simsearch.data.loaders import load_npz
from simsearch.data.pairs import split_by_class
from simsearch.datasets import omniglot_sample
from simsearch.models import (
    ImageTowerConfig,
    SiameseModel,
    TrainConfig,
    build_image_tower,
    train_items,
)

OMNIGLOT_CLASSES = 40  # 800 images; 32 classes train, 8 validate
TINY_TOWER: dict[str, Any] = {"blocks": 1, "filters": 8, "embedding_dim": 16}
TINY_RUN: dict[str, Any] = {
    "epochs": 2,
    "steps_per_epoch": 5,
    "batch_size": 32,
    "head_epochs": 1,
    "augment": False,  # ~2 s of tracing per run; covered by test_trainers and test_layers
    "keep_baseline": False,  # these 2-epoch towers test training itself (selection: test_selection)
    "verbose": 0,
}


@pytest.fixture(scope="session")
def omniglot() -> Items:
    """The first 40 characters (20 drawings each, 28×28) of the real Omniglot sample."""
    items = load_npz(omniglot_sample("background"))
    return items.subset(np.flatnonzero(items.labels < OMNIGLOT_CLASSES))


@pytest.fixture(scope="session")
def omniglot_split(omniglot: Items) -> tuple[Items, Items]:
    """`(train, val)` of `omniglot` with disjoint classes (32 and 8)."""
    return split_by_class(omniglot, val_fraction=0.2, seed=0)


@pytest.fixture(scope="session")
def tiny_settings() -> dict[str, Any]:
    """The tower settings of the tiny models."""
    return dict(TINY_TOWER)


@pytest.fixture(scope="session")
def tiny_tower() -> keras.Model:
    """An untrained 28×28 light tower of width 16, for tests that only read it."""
    return build_image_tower(ImageTowerConfig(**TINY_TOWER))


@pytest.fixture(scope="session")
def train_tiny(omniglot_split: tuple[Items, Items]) -> Callable[..., SiameseModel]:
    """Return `train(loss, **tower_settings)`: a tiny image model trained on `omniglot_split`,
    each (loss, settings) trained once per session and then shared."""
    trained: dict[tuple[Any, ...], SiameseModel] = {}
    train_set, val_set = omniglot_split

    def train(loss: str = "softmax", **tower_settings: Any) -> SiameseModel:
        key = (loss, *sorted(tower_settings.items()))
        if key not in trained:
            trained[key] = train_items(
                train_set,
                tower="image",
                tower_settings={**TINY_TOWER, **tower_settings},
                config=TrainConfig(loss=loss, **TINY_RUN),
                val_items=val_set,
            )
        return trained[key]

    return train


@pytest.fixture(scope="session")
def tiny_model(train_tiny: Callable[..., SiameseModel]) -> SiameseModel:
    """The tiny image model trained with the softmax loss."""
    return train_tiny("softmax")
