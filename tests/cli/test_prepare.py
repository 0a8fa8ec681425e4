"""`simsearch prepare-pairs` through click's runner, on hand-made files."""

from __future__ import annotations

import csv
from pathlib import Path

from click.testing import CliRunner

from simsearch.cli import cli


def _read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def test_sick_style_file_becomes_catalogue_and_splits(tmp_path: Path) -> None:
    header = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tSemEval_set\n"
    rows = "1\ta dog\ta puppy\t4.6\tTRAIN\n2\ta dog\ta car\t1.2\tTRIAL\n3\ta car\ta truck\t3.9\tTEST\n"
    source = tmp_path / "SICK.txt"
    source.write_text(header + rows, encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["prepare-pairs", "--format", "sick", "--input", str(source), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 4 sentences" in result.output
    catalog = {r["id"]: r["text"] for r in _read(tmp_path / "o" / "catalog.csv")}
    train, test = _read(tmp_path / "o" / "train.csv"), _read(tmp_path / "o" / "test.csv")
    assert [(catalog[r["left_id"]], catalog[r["right_id"]], r["label"], r["score"]) for r in train] == [
        ("a dog", "a puppy", "1", "4.6")
    ]
    assert [(catalog[r["left_id"]], r["label"], r["score"]) for r in test] == [("a car", "0", "3.9")]


def test_table_needs_its_columns(tmp_path: Path) -> None:
    source = tmp_path / "q.csv"
    source.write_text("a,b,dup\nx,y,1\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        [
            "prepare-pairs",
            "--format",
            "table",
            "--train",
            str(source),
            "--test",
            str(source),
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 1
    assert "Expected left and right columns" in result.output
    options = ["--left-column", "a", "--right-column", "b", "--label-column", "dup"]
    files = ["--train", str(source), "--valid", str(source), "--test", str(source)]
    ok = CliRunner().invoke(
        cli, ["prepare-pairs", "--format", "table", *options, *files, "--out", str(tmp_path / "o")]
    )
    assert ok.exit_code == 0, ok.output
    assert _read(tmp_path / "o" / "valid.csv")[0]["label"] == "1"


def test_no_input_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["prepare-pairs", "--format", "mrpc", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "Expected --input or --train/--test" in result.output


def test_a_latin_1_table_is_refused_in_one_line_then_read_with_encoding(tmp_path: Path) -> None:
    source = tmp_path / "pairs.csv"
    source.write_bytes(b"a,b,dup\ncaf\xe9,cafe,1\nx,y,0\n")
    columns = ["--left-column", "a", "--right-column", "b", "--label-column", "dup"]
    files = ["--train", str(source), "--test", str(source), "--out", str(tmp_path / "out")]
    args = ["prepare-pairs", "--format", "table", *columns, *files]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: Expected utf-8 text") and "--encoding" in result.output
    result = CliRunner().invoke(cli, [*args, "--encoding", "latin-1"])
    assert result.exit_code == 0, result.output
    assert "café" in (tmp_path / "out" / "catalog.csv").read_text(encoding="utf-8")
