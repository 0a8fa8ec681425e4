"""`LabelLog`: labels, undo, replay from the file, a torn last line, and the pair-file export."""

from __future__ import annotations

from pathlib import Path

import pytest

from simsearch.errors import DataError
from simsearch.server.labels import LabelLog


def test_labels_undo_and_replay(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    log = LabelLog(path)
    log.add(0, 1, "same")
    log.add(2, 3, "different")
    log.add(0, 1, "different")  # relabelled: the latest act counts
    assert log.undo() == (0, 1, "different")
    log.add("a", "b", "unsure")
    assert log.labels == {(0, 1): "same", (2, 3): "different", ("a", "b"): "unsure"}
    assert LabelLog(path).labels == log.labels  # what a restarted server reads back
    assert log.export() == "left_id,right_id,label\n0,1,1\n2,3,0\n"


def test_a_torn_last_line_is_ignored_and_ended(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    LabelLog(path).add(0, 1, "same")
    with path.open("a") as f:
        f.write('{"left_id": 4, "rig')  # a kill -9 in the middle of a write
    log = LabelLog(path)
    log.add(5, 6, "different")
    assert LabelLog(path).labels == {(0, 1): "same", (5, 6): "different"}


def test_undo_with_nothing_and_a_bad_label(tmp_path: Path) -> None:
    log = LabelLog(tmp_path / "labels.jsonl")
    assert log.undo() is None
    with pytest.raises(DataError, match="same"):
        log.add(0, 1, "maybe")
