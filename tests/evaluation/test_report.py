"""Text tables for the CLI."""

from __future__ import annotations

import numpy as np

from simsearch.evaluation.report import format_table


def test_dict_becomes_metric_value_columns():
    text = format_table({"recall@1": 0.91321, "n_queries": 1200, "metric": "cosine"})
    assert text.splitlines() == [
        "metric     value",
        "---------  ------",
        "recall@1   0.9132",
        "n_queries   1,200",
        "metric     cosine",
    ]


def test_rows_share_columns_and_numbers_align_right():
    rows = [
        {"model": "conv", "accuracy": 0.5, "n": 10},
        {"model": "resnet-small", "accuracy": np.float32(0.98771), "n": np.int64(12345)},
        {"model": "pixels", "note": "baseline"},
    ]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["model", "accuracy", "n", "note"]
    assert lines[2].split() == ["conv", "0.5000", "10"]
    assert lines[3].split() == ["resnet-small", "0.9877", "12,345"]
    assert lines[4].split() == ["pixels", "baseline"]
    # Right-aligned numbers end in the same column; every column starts where its header does.
    assert lines[2].index("0.5000") + 6 == lines[3].index("0.9877") + 6 == lines[0].index("n") - 2
    assert lines[4].index("baseline") == lines[0].index("note")


def test_tuples_of_numbers_and_digits():
    text = format_table({"ci95": (0.123456, 0.9), "auc": 0.5}, digits=2)
    assert "(0.12, 0.90)" in text and "0.50" in text


def test_empty_rows():
    assert format_table([]) == "(no rows)"
    assert format_table({}) == "(no rows)"
