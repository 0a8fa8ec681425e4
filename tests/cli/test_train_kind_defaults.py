"""`train`'s options default by tower kind (`TowerKind.train_defaults`) only where not given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simsearch.cli.train import _kind_defaults, train


def _params(tmp_path: Path, tower: str, *extra: str) -> dict[str, Any]:
    pairs, catalog = tmp_path / "pairs.csv", tmp_path / "catalog.csv"
    pairs.write_text("left_id,right_id,label\n")
    catalog.write_text("id,name\n")
    args = ["--pairs", str(pairs), "--catalog", str(catalog), "--tower", tower, "--out", str(tmp_path / "m")]
    with train.make_context("train", [*args, *extra]) as context:
        _kind_defaults(context.params)
        return dict(context.params)


def test_the_language_model_kind_brings_its_defaults(tmp_path: Path) -> None:
    params = _params(tmp_path, "lm_record")
    expected = {"loss": "supcon", "batch_size": 32, "steps_per_epoch": 50, "epochs": 6, "learning_rate": 5e-5}
    assert {k: params[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("option", "value", "key", "expected"),
    [
        ("--epochs", "3", "epochs", 3),
        ("--loss", "bce", "loss", "bce"),
        ("--batch-size", "128", "batch_size", 128),
    ],
    ids=["epochs", "loss", "batch_size_equal_to_the_global_default"],
)
def test_an_option_given_wins(tmp_path: Path, option: str, value: str, key: str, expected: object) -> None:
    assert _params(tmp_path, "lm_record", option, value)[key] == expected


def test_other_kinds_and_architectures_keep_the_global_defaults(tmp_path: Path) -> None:
    for params in (_params(tmp_path, "record"), _params(tmp_path, "lm_record", "--architecture", "linear")):
        assert (params["loss"], params["batch_size"], params["epochs"]) == (None, 128, 20)
