"""One record rule and one id type, through the CLI (`query`, `compare`, `dedup`) and
`SearchEngine`, on a tiny record model over a catalogue with integer ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from simsearch.cli import cli
from simsearch.errors import DataError
from tests.conftest import RecordIndex


def _query(index: RecordIndex, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["query", "--index", str(index.index_dir), *args])
    return result.exit_code, result.output


def test_query_refuses_a_field_the_model_does_not_read(record_index: RecordIndex) -> None:
    code, output = _query(record_index, "--record", '{"title": "sony tv"}')
    assert code == 1
    assert "among ['name', 'price'] (the model's" in output and "unknown: ['title']" in output


def test_a_record_may_leave_fields_out_everywhere(record_index: RecordIndex) -> None:
    code, output = _query(record_index, "--record", '{"name": "sony tv"}', "-k", "2", "--json")
    assert code == 0, output
    assert len(json.loads(output.splitlines()[-1])["hits"]) == 2
    result = CliRunner().invoke(
        cli, ["compare", "--model", str(record_index.model_dir), '{"name": "sony tv"}', '{"price": 3}']
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        cli, ["compare", "--model", str(record_index.model_dir), '{"name": "a"}', '{"nmae": "b"}']
    )
    assert result.exit_code == 1 and "unknown: ['nmae']" in result.output


def test_ids_keep_the_catalogues_integer_type(record_index: RecordIndex) -> None:
    code, output = _query(record_index, "--id", "0", "-k", "3", "--json")
    assert code == 0, output
    payload = json.loads(output.splitlines()[-1])
    assert payload["query"] == 0 and all(isinstance(hit["id"], int) for hit in payload["hits"])
    assert 0 not in [hit["id"] for hit in payload["hits"]]


def test_a_radius_search_by_id_leaves_the_item_itself_out(record_index: RecordIndex) -> None:
    code, output = _query(record_index, "--id", "0", "--radius", "2.5", "--json")
    assert code == 0, output
    ids = [hit["id"] for hit in json.loads(output.splitlines()[-1])["hits"]]
    assert len(ids) == 7 and 0 not in ids  # everything else is within 2.5 of cosine distance


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_dedup_writes_integer_ids(record_index: RecordIndex, tmp_path: Path, suffix: str) -> None:
    from simsearch.dedup import read_pairs

    out = tmp_path / f"pairs{suffix}"
    args = ["--index", str(record_index.index_dir), "--out", str(out), "--no-rerank", "--threshold", "2"]
    result = CliRunner().invoke(cli, ["dedup", *args])
    assert result.exit_code == 0, result.output
    pairs = read_pairs(out)
    assert len(pairs) and pairs.left_ids.dtype.kind == "i" and pairs.right_ids.dtype.kind == "i"
    if suffix == ".jsonl":
        assert isinstance(json.loads(out.read_text().splitlines()[0])["left_id"], int)


def test_search_engine_applies_the_same_rule(record_index: RecordIndex, tmp_path: Path) -> None:
    import shutil

    from simsearch.engine import SearchEngine

    engine = SearchEngine.load(shutil.copytree(record_index.index_dir, tmp_path / "index"))
    with pytest.raises(DataError, match=r"unknown: \['title'\]"):
        engine.search(items=[{"title": "sony tv"}], k=2)
    assert len(engine.search(items=[{"name": "sony tv"}], k=2)[0]) == 2
    assert engine.model.compare({"name": "sony tv"}, {"name": "sony tv", "price": 399.0}).distance >= 0
    assert [hit.id for hit in engine.search(ids=[1], k=7)[0]].count(1) == 0


def test_bad_inputs_fail_before_tensorflow_loads(record_index: RecordIndex, tmp_path: Path) -> None:
    import subprocess
    import sys

    index, model = str(record_index.index_dir), str(record_index.model_dir)
    queries = tmp_path / "queries.csv"
    queries.write_text("id,title\n1,sony tv\n")
    cases = [
        (["query", "--index", index, "--record", '{"title": 1}'], "unknown: ['title']"),
        (["query", "--index", index, "--record", "{not json"], "Expected a JSON object for --record"),
        (["query", "--index", index, "--text", "hello"], "Expected --text for a text model"),
        (["query", "--index", index, "--queries", str(queries)], "Expected columns ['name', 'price']"),
        (["compare", "--model", model, '{"nmae": 1}', '{"name": "a"}'], "unknown: ['nmae']"),
    ]
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from simsearch.cli import cli\n"
        f"for args, message in {cases!r}:\n"
        "    r = CliRunner().invoke(cli, args)\n"
        "    assert r.exit_code == 1 and message in r.output, (args, r.output)\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False False"
