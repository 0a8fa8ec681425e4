"""`LabelLog`: labels, undo, replay from the file, a torn last line, a malformed file (one clean
line naming the file and line, also from `serve --review`), and the pair-file export."""

from __future__ import annotations

from pathlib import Path

import pytest

from simsearch.errors import DataError
from simsearch.server.labels import LabelLog
from tests.conftest import RecordIndex


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


@pytest.mark.parametrize(
    ("lines", "number", "shown"),
    [
        (b"[1, 2]\n", 2, "'[1, 2]'"),
        (b'{"left_id": 1, "right_id": 2}\n', 2, "'{\"left_id\": 1, \"right_id\": 2}'"),
        (b'{"left_id": 1, "right_id": 2, "label": "maybe"}\n', 2, "maybe"),
        (b'{"left_id": [1], "right_id": 2, "label": "same"}\n', 2, "[1]"),
        (b'{"left_id": true, "right_id": 2, "label": "same"}\n', 2, "true"),
        (b'{"undo": 1}\n', 2, "undo"),
        (b"left_id,right_id,label\n0,1,1\n", 2, "'left_id,right_id,label'"),
        (b'{"left_id": 1, "right_id": 2, "label": "same"}\n\xff\xfe\n', 3, "(not UTF-8)"),
    ],
    ids=["list", "no-label", "unknown-label", "list-id", "bool-id", "undo-not-true", "a-csv", "not-utf8"],
)
def test_a_malformed_line_names_the_file_and_line(
    tmp_path: Path, lines: bytes, number: int, shown: str
) -> None:
    path = tmp_path / "labels.jsonl"
    good = b'{"left_id": 0, "right_id": 1, "label": "same"}\n'
    path.write_bytes(good + lines)
    with pytest.raises(DataError) as caught:
        LabelLog(path)
    message = str(caught.value)
    assert message.startswith('Expected a labels file of JSON lines, each {"left_id", "right_id", "label"')
    assert f"Received: line {number} of '{path}': " in message and shown in message
    assert path.read_bytes() == good + lines  # nothing appended to a file that is not ours


def test_a_folder_as_labels_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Expected a readable labels file\. Received: '.*' .*directory"):
        LabelLog(tmp_path)


def test_serve_with_a_malformed_labels_file_says_which_line(
    tmp_path: Path, record_index: RecordIndex
) -> None:
    from click.testing import CliRunner

    from simsearch.cli import cli

    pairs = tmp_path / "pairs.csv"
    pairs.write_text("left_id,right_id,distance,score\n0,1,0.1,\n")
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"left_id": 0, "right_id": 1, "label": "same"}\n{"left_id": 0}\n')
    args = ["serve", "--index", str(record_index.index_dir), "--port", "0", "--review", str(pairs)]
    result = CliRunner().invoke(cli, [*args, "--labels", str(labels)])
    assert result.exit_code == 1 and result.exception is not None
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "Error: Expected a labels file of JSON lines, each "
        '{"left_id", "right_id", "label": same | different | unsure} or {"undo": true}. '
        f"Received: line 2 of '{labels}': '{{\"left_id\": 0}}'"
    ]
