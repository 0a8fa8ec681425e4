"""`simsearch.train_config`: the training settings, checked without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from simsearch.errors import ConfigError
from simsearch.train_config import TrainConfig


def test_import_does_not_pull_tensorflow() -> None:
    # The CLI's `--help` offers these names before TensorFlow loads.
    code = (
        "import sys, simsearch.train_config as c; "
        "c.TrainConfig(loss='triplet').p_k; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "settings",
    [
        {"loss": "hinge"},
        {"optimizer": "rmsprop"},
        {"epochs": 0},
        {"steps_per_epoch": -1},
        {"batch_size": 0},
        {"learning_rate": 0.0},
        {"val_fraction": 0.0},
        {"val_fraction": 1.0},
    ],
    ids=[
        "loss",
        "optimizer",
        "epochs",
        "steps",
        "batch",
        "learning-rate",
        "val-fraction-0",
        "val-fraction-1",
    ],
)
def test_bad_train_config_raises(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="Expected"):
        TrainConfig(**settings)


def test_episode_shape_needs_two_items_per_class() -> None:
    assert TrainConfig(batch_size=32).p_k == (8, 4)
    assert TrainConfig(batch_size=32, classes_per_batch=16).p_k == (16, 2)
    with pytest.raises(ConfigError, match="Expected batch_size >= 2"):
        _ = TrainConfig(batch_size=32, classes_per_batch=20).p_k
