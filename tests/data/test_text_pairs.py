"""Sentence-pair corpora → catalogue + pair files: hand-made files in each format, and the real
MRPC / STS-B / SICK counts when ../shared is there."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from simsearch.data.text_pairs import prepare_text_pairs, read_text_pairs, write_text_pairs
from simsearch.errors import ConfigError, DataError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "text_pairs"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def mrpc(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "mrpc.txt",
        "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
        '1\t1\t2\tHe said "yes".\tHe answered "yes".\n'
        '0\t3\t4\tA cat sat.\tHe said "yes".\n',
    )


def test_mrpc_reads_labels_and_keeps_quotes(mrpc: Path) -> None:
    pairs = read_text_pairs(mrpc, "mrpc")["all"]
    assert [(p.left, p.right, p.label, p.score) for p in pairs] == [
        ('He said "yes".', 'He answered "yes".', 1, 1.0),
        ("A cat sat.", 'He said "yes".', 0, 0.0),
    ]


def test_stsb_grades_at_positive_at(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "sts.csv",
        "main\tMSRvid\t2012\t1\t5.000\tA plane.\tAn air plane.\n"
        "main\tMSRvid\t2012\t2\t3.800\tA man.\tA flute.\textra\tlicence\n",
    )
    pairs = read_text_pairs(path, "stsb")["all"]
    assert [(p.label, p.score) for p in pairs] == [(1, 5.0), (0, 3.8)]
    assert [p.label for p in read_text_pairs(path, "stsb", positive_at=3.5)["all"]] == [1, 1]


def test_sick_splits_by_its_column(tmp_path: Path) -> None:
    header = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tSemEval_set\n"
    path = _write(
        tmp_path / "SICK.txt", header + "1\ta\tb\t4.5\tTRAIN\n2\tb\tc\t1.0\tTRIAL\n3\tc\td\t4.0\tTEST\n"
    )
    splits = read_text_pairs(path, "sick")
    assert {k: [(p.left, p.label) for p in v] for k, v in splits.items()} == {
        "train": [("a", 1)],
        "valid": [("b", 0)],
        "test": [("c", 1)],
    }


def test_table_format_names_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "q.csv", 'q1,q2,is_duplicate\n"How, why?",Why?,1\n')
    pairs = read_text_pairs(path, "table", left="q1", right="q2", label="is_duplicate")["all"]
    assert (pairs[0].left, pairs[0].right, pairs[0].label) == ("How, why?", "Why?", 1)


@pytest.mark.parametrize(
    ("text", "kwargs", "error", "match"),
    [
        ("a\tb\n", {"format": "mrpc"}, DataError, "Expected columns"),
        (
            "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n2\t1\t2\ta\tb\n",
            {"format": "mrpc"},
            DataError,
            "0 or 1",
        ),
        ("x\tx\tx\tx\tfive\ta\tb\n", {"format": "stsb"}, DataError, "Expected a number"),
        ("a\n", {"format": "nope"}, ConfigError, "Expected format"),
        ("a,b\n", {"format": "table", "left": "a", "right": "b"}, ConfigError, "exactly one of label"),
        ("a\n", {"format": "mrpc", "positive_at": 3.0}, ConfigError, "binary format"),
    ],
    ids=[
        "missing-columns",
        "bad-label",
        "bad-score",
        "unknown-format",
        "table-no-label",
        "positive-at-binary",
    ],
)
def test_bad_input_is_named(tmp_path: Path, text: str, kwargs: dict, error: type, match: str) -> None:
    path = _write(tmp_path / "bad.txt", text)
    with pytest.raises(error, match=match):
        read_text_pairs(path, **kwargs)


def test_prepare_gives_each_sentence_one_id_and_holds_out_valid(mrpc: Path, tmp_path: Path) -> None:
    pairs = read_text_pairs(mrpc, "mrpc")["all"]
    table = prepare_text_pairs({"all": pairs * 5, "test": pairs[:1]}, valid_fraction=0.2, seed=1)
    assert sorted(table.texts) == sorted({'He said "yes".', 'He answered "yes".', "A cat sat."})
    assert (len(table.splits["train"]), len(table.splits["valid"]), len(table.splits["test"])) == (8, 2, 1)
    paths = write_text_pairs(table, tmp_path / "out")
    catalog = {
        r["id"]: r["text"] for r in csv.DictReader(paths["catalog"].read_text(encoding="utf-8").splitlines())
    }
    test = list(csv.DictReader(paths["test"].read_text(encoding="utf-8").splitlines()))
    assert [(catalog[r["left_id"]], catalog[r["right_id"]], r["label"]) for r in test] == [
        ('He said "yes".', 'He answered "yes".', "1")
    ]
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_prepare_needs_a_test_split(mrpc: Path) -> None:
    with pytest.raises(DataError, match="train and test"):
        prepare_text_pairs({"all": read_text_pairs(mrpc, "mrpc")["all"]})


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/text_pairs (not in a fresh clone)")
def test_real_corpora_have_their_published_counts() -> None:
    mrpc = read_text_pairs(SHARED / "mrpc" / "msr_paraphrase_train.txt", "mrpc")["all"]
    assert (len(mrpc), sum(p.label for p in mrpc)) == (4076, 2753)
    sts = [
        len(read_text_pairs(SHARED / "stsbenchmark" / f"sts-{s}.csv", "stsb")["all"])
        for s in ("train", "dev", "test")
    ]
    assert sts == [5749, 1500, 1379]
    sick = read_text_pairs(SHARED / "sick" / "SICK.txt", "sick")
    assert {k: len(v) for k, v in sick.items()} == {"train": 4439, "valid": 495, "test": 4906}
