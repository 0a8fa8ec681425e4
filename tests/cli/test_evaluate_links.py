"""`simsearch evaluate --pairs-out OUT --truth LINKS`: a dedup or match output scored against the
true links, hand-counted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from simsearch.cli import cli
from tests.conftest import RecordIndex


def _scores(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["evaluate", *args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    return next(value for key, value in report.items() if key.startswith("links"))


def test_a_pairs_file_and_a_groups_file_against_true_links(tmp_path: Path) -> None:
    truth = tmp_path / "links.csv"
    truth.write_text("left_id,right_id,label\na,b,1\nc,d,1\ne,f,1\ng,h,0\n")
    pairs = tmp_path / "pairs.csv"  # as dedup writes it; b,a is the true a,b
    pairs.write_text("left_id,right_id,distance,score\nb,a,0.1,\nc,d,0.2,\na,c,0.3,\n")
    found = _scores("--pairs-out", str(pairs), "--truth", str(truth))
    assert (found["true links"], found["found links"], found["found and true"]) == (3, 3, 2)
    assert (found["precision"], found["recall"], found["f1"]) == (2 / 3, 2 / 3, 2 / 3)
    groups = tmp_path / "groups.csv"  # a, b, c together: a-b, a-c, b-c; e-f
    groups.write_text("id,group\na,1\nb,1\nc,1\nd,2\ne,3\nf,3\n")
    found = _scores("--pairs-out", str(groups), "--truth", str(truth))
    assert (found["found links"], found["found and true"], found["precision"]) == (4, 2, 0.5)
    assert abs(found["f1"] - 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)) < 1e-12


def test_match_pairs_count_in_their_order_with_ordered(tmp_path: Path) -> None:
    truth = tmp_path / "links.csv"  # catalogues A and B share the ids 1..4
    truth.write_text("left_id,right_id\n1,2\n3,4\n")
    matches = tmp_path / "matches.jsonl"
    matches.write_text('{"left_id": 2, "right_id": 1}\n{"left_id": 3, "right_id": 4}\n')
    assert _scores("--pairs-out", str(matches), "--truth", str(truth), "--ordered")["precision"] == 0.5
    assert _scores("--pairs-out", str(matches), "--truth", str(truth))["precision"] == 1.0


def test_scoring_a_file_refuses_what_it_would_ignore(tmp_path: Path) -> None:
    truth = tmp_path / "links.csv"
    truth.write_text("left_id,right_id\n1,2\n")
    result = CliRunner().invoke(cli, ["evaluate", "--pairs-out", str(truth)])
    assert result.exit_code == 1 and "Expected --pairs-out and --truth together" in result.output
    result = CliRunner().invoke(
        cli, ["evaluate", "--pairs-out", str(truth), "--truth", str(truth), "--model", "."]
    )
    assert result.exit_code == 1 and "Received: ['--model']" in result.output


def test_evaluate_shows_head_tables_only_for_a_trained_head(
    record_index: RecordIndex, tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("left_id,right_id,label\n1,2,1\n3,4,1\n5,6,1\n0,7,0\n1,3,0\n2,5,0\n")
    args = ["--pairs", str(pairs), "--catalog", str(record_index.catalog), "--no-plots", "--json"]
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(record_index.model_dir), *args])
    assert result.exit_code == 0, result.output
    assert "pairs (pairwise head)" in json.loads(result.output)  # the fixture's head counts as trained
    untrained = shutil.copytree(record_index.model_dir, tmp_path / "model")
    config = json.loads((untrained / "config.json").read_text())
    config["head"] = {
        "trained": False,
        "decides": False,
        "rerank_default": False,
        "reason": "6 pairs: too few",
    }
    (untrained / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(untrained), *args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert not [section for section in report if "head" in section] and "pairs (tower distance)" in report
    assert "The pairwise head was not trained (6 pairs: too few): no head tables." in report["notes"]
