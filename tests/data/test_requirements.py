"""Small data: what training needs is checked before TensorFlow loads; linked folders are read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simsearch.data.items import Items
from simsearch.data.loaders import load_items
from simsearch.data.pairs import Pairs, split_within_classes
from simsearch.data.requirements import check_items_trainable, check_pairs_trainable
from simsearch.errors import DataError


def _items(labels: list[int]) -> Items:
    n = len(labels)
    return Items(ids=np.arange(n).astype(str), labels=np.array(labels), classes=tuple("abcde"),
                 fields={"text": np.array(["x"] * n, dtype=object)})  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        pytest.param([0, 0, 0], "in 1 classes", id="one-class"),
        pytest.param([0, 1, 2], "largest 1", id="one-item-per-class"),
    ],
)
def test_items_too_few_to_learn_are_refused(labels: list[int], message: str) -> None:
    with pytest.raises(DataError, match=message):
        check_items_trainable(_items(labels))


def test_two_classes_are_enough() -> None:
    check_items_trainable(_items([0, 0, 1]))


def test_few_pairs_need_one_of_each_label_per_fold() -> None:
    pairs = Pairs(np.arange(20), np.arange(20), np.r_[np.ones(4), np.zeros(16)].astype(np.int8))
    with pytest.raises(DataError, match=r"at least 5 matching .* Received: 4 matching, 16"):
        check_pairs_trainable(pairs)
    check_pairs_trainable(pairs, held_out=True)  # a given validation set: no folds


def test_split_within_classes_holds_out_items_of_every_class_never_the_last() -> None:
    train, val = split_within_classes(_items([0] * 10 + [1] * 2 + [2]), val_fraction=0.2, seed=0)
    assert sorted(val.labels.tolist()) == [0, 0, 1]
    assert sorted(np.unique(train.labels).tolist()) == [0, 1, 2]


def test_class_folders_reached_through_symbolic_links_are_read(tmp_path: Path) -> None:
    real, tree = tmp_path / "real", tmp_path / "tree"
    tree.mkdir()
    for name in ("cat", "dog"):
        (real / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(real / name / f"{i}.png")
        os.symlink(real / name, tree / name)
    os.symlink(real / "dog" / "0.png", real / "cat" / "linked.png")  # a linked file too
    items = load_items(tree)
    assert sorted(items.classes) == ["cat", "dog"]
    assert len(items) == 5


def test_train_refuses_too_small_data_before_tensorflow_loads(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("id,name\n" + "".join(f"{i},item {i}\n" for i in range(6)))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("left_id,right_id,label\n0,1,1\n2,3,0\n4,5,0\n")
    code = (
        "import sys\n"
        "from simsearch.cli import cli\n"
        f"args = ['train', '--pairs', {str(pairs)!r}, '--catalog', {str(catalog)!r}, '--tower', 'record',"
        f" '--fields', 'name', '--out', {str(tmp_path / 'm')!r}]\n"
        "try:\n"
        "    cli(args, standalone_mode=False)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
        "print('tensorflow loaded:', 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert "Expected at least 5 matching (label 1) and 5 non-matching" in out
    assert "Received: 1 matching, 2 non-matching" in out
    assert "tensorflow loaded: False" in out
