"""Pair and group files: formats round trip, atomic writes, clear errors."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from simsearch.dedup import (
    DuplicatePairs,
    check_output_path,
    read_groups,
    read_pairs,
    write_groups,
    write_pairs,
)
from simsearch.dedup import files as files_module
from simsearch.errors import ConfigError, DataError, OutputFileError

try:
    import pyarrow  # noqa: F401

    PARQUET = ".parquet"
except ImportError:  # the "parquet" extra is optional: its round trips are skipped without it
    PARQUET = pytest.param(".parquet", marks=pytest.mark.skip(reason="pyarrow not installed"))

SCORED = DuplicatePairs(np.array(["a", "b"], object), np.array(["c", "d"], object), [0.1, 0.25], [0.9, 0.5])
UNSCORED = DuplicatePairs(np.array([1, 2]), np.array([30, 40]), [0.1, 0.0])


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", PARQUET])
@pytest.mark.parametrize("pairs", [SCORED, UNSCORED], ids=["scored-str", "unscored-int"])
def test_pairs_round_trip(tmp_path: Path, suffix: str, pairs: DuplicatePairs) -> None:
    path = write_pairs(pairs, tmp_path / f"pairs{suffix}")
    back = read_pairs(path)
    assert back.left_ids.tolist() == pairs.left_ids.tolist()
    assert back.right_ids.tolist() == pairs.right_ids.tolist()
    np.testing.assert_array_equal(back.distances, pairs.distances)
    if pairs.scores is None:
        assert back.scores is None
    else:
        assert back.scores is not None
        np.testing.assert_array_equal(back.scores, pairs.scores)
    assert [p.name for p in tmp_path.iterdir()] == [f"pairs{suffix}"]  # no temporary file left


def test_csv_and_jsonl_columns(tmp_path: Path) -> None:
    write_pairs(UNSCORED, tmp_path / "p.csv")
    with open(tmp_path / "p.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows == [
        ["left_id", "right_id", "distance", "score"],
        ["1", "30", "0.1", ""],
        ["2", "40", "0.0", ""],
    ]
    write_pairs(SCORED, tmp_path / "p.jsonl")
    first = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])
    assert first == {"left_id": "a", "right_id": "c", "distance": 0.1, "score": 0.9}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", PARQUET])
def test_groups_round_trip(tmp_path: Path, suffix: str) -> None:
    ids, groups = np.array(["x", "012", "z"], object), np.array([0, 0, 1])
    back_ids, back_groups = read_groups(write_groups(ids, groups, tmp_path / f"groups{suffix}"))
    assert back_ids.tolist() == ["x", "012", "z"] and back_groups.tolist() == [0, 0, 1]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", PARQUET])
def test_empty_pairs_round_trip(tmp_path: Path, suffix: str) -> None:
    back = read_pairs(write_pairs(DuplicatePairs.empty(), tmp_path / f"e{suffix}"))
    assert len(back) == 0


def test_failure_part_way_leaves_no_file_under_the_final_name(tmp_path: Path, monkeypatch) -> None:
    def failing(columns, f) -> None:
        f.write(b"left_id,right_id,distance,score\n1,2,")
        raise KeyboardInterrupt  # a job stopped part-way

    monkeypatch.setitem(files_module._WRITERS, ".csv", failing)
    with pytest.raises(KeyboardInterrupt):
        write_pairs(UNSCORED, tmp_path / "pairs.csv")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    path = write_groups([1, 2], [0, 1], tmp_path / "groups.jsonl")
    before = path.read_bytes()

    def failing(columns, f) -> None:
        f.write(b'{"id": 1')
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(files_module._WRITERS, ".jsonl", failing)
    with pytest.raises(OutputFileError, match=r"Expected to write .*groups.jsonl'\. Received: No space left"):
        write_groups([1, 2, 3], [0, 1, 1], path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["groups.jsonl"]


def test_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"Expected an output path ending in \.csv, \.jsonl, \.parquet\. Received: '.*pairs\.txt'",
    ):
        write_pairs(UNSCORED, tmp_path / "pairs.txt")


def test_missing_folder_and_folder_path(tmp_path: Path) -> None:
    with pytest.raises(
        OutputFileError, match=r"Expected an output path in an existing folder\. Received: .*does not exist"
    ):
        check_output_path(tmp_path / "nowhere" / "pairs.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(
        OutputFileError, match=r"Expected a writable output file path\. Received: .*\(a folder\)"
    ):
        write_pairs(UNSCORED, tmp_path / "dir.csv")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(OutputFileError, match="is not writable"):
            write_pairs(UNSCORED, locked / "pairs.csv")
    finally:
        locked.chmod(0o700)


def test_folder_without_write_permission(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(files_module.os, "access", lambda path, mode: False)  # as a non-root user sees it
    with pytest.raises(
        OutputFileError, match=r"Expected a writable output file path\. Received: .*is not writable"
    ):
        write_pairs(UNSCORED, tmp_path / "pairs.csv")


def test_parquet_without_pyarrow(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ConfigError, match=r"Expected pyarrow for Parquet files: pip install pyarrow"):
        write_pairs(UNSCORED, tmp_path / "pairs.parquet")
    assert list(tmp_path.iterdir()) == []


def test_groups_must_be_one_int_per_id(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Expected one int group per id"):
        write_groups([1, 2], [0.5, 1.0], tmp_path / "g.csv")


def test_read_links_from_pairs_and_groups(tmp_path: Path) -> None:
    from simsearch.dedup import read_links

    pairs = tmp_path / "links.csv"
    pairs.write_text("left_id,right_id,label\nb,a,1\nc,d,1\ng,h,0\n")
    assert read_links(pairs) == {("a", "b"), ("c", "d")}  # label 0 left out, smaller id first
    assert read_links(pairs, ordered=True) == {("b", "a"), ("c", "d")}
    groups = tmp_path / "groups.jsonl"
    rows = zip("abcdef", [1, 1, 1, 2, 3, 3], strict=True)
    groups.write_text("".join(f'{{"id": "{i}", "group": {g}}}\n' for i, g in rows))
    assert read_links(groups) == {("a", "b"), ("a", "c"), ("b", "c"), ("e", "f")}
    other = tmp_path / "other.csv"
    other.write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match=r"Expected pair columns \['left_id', 'right_id'\] or group columns"):
        read_links(other)
