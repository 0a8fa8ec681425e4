"""Never guess ids, never drop data, never a traceback: `add`, `build-index` and `query` on the
tiny record index (integer ids) refuse tables without ids, ragged rows, text in another encoding
or over the limits, huge ids, deep records and radii beyond float32 in one line (exit 1), and
leave the index directory byte for byte as it was."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from simsearch.cli import cli
from simsearch.validation import MAX_TEXT_CHARS
from tests.conftest import RecordIndex


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def index(record_index: RecordIndex, tmp_path: Path) -> Path:
    return Path(shutil.copytree(record_index.index_dir, tmp_path / "index"))


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def one_line_error(code: int, output: str, *needles: str) -> None:
    assert code == 1, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Expected"), output[-2000:]
    assert "Traceback" not in output
    for needle in needles:
        assert needle in lines[0], lines[0]


CATALOGUES = [
    pytest.param("name,price\nfoo,1\nbar,2\n", ["--id-column", "--row-ids"], id="no-id-column"),
    pytest.param("id,name,price\n50,a,1\n51,b\n", ["3 cells per row", "line 3 with 2"], id="short-row"),
    pytest.param("id,name,price\n50,a,1,extra\n", ["3 cells per row", "line 2 with 4"], id="long-row"),
    pytest.param("id,name,name\n50,a,b\n", ["distinct column names", "['name']"], id="repeated-column"),
    pytest.param(b"id,name,price\n50,caf\xe9,1\n", ["utf-8 text", "--encoding"], id="latin-1"),
    pytest.param(
        "id,name,price\n50," + "x" * (MAX_TEXT_CHARS + 1) + ",1\n",
        [f"{MAX_TEXT_CHARS} characters"],
        id="huge-field",
    ),
    pytest.param('{"id": 50, "name": "\\ud800"}\n', ["lone surrogate"], id="jsonl-surrogate"),
]


@pytest.mark.parametrize("upsert", [[], ["--upsert"]], ids=["add", "upsert"])
@pytest.mark.parametrize(("content", "needles"), CATALOGUES)
def test_add_refuses_in_one_line_and_changes_nothing(
    index: Path, tmp_path: Path, content: str | bytes, needles: list[str], upsert: list[str]
) -> None:
    suffix = ".jsonl" if isinstance(content, str) and content.startswith("{") else ".csv"
    catalog = tmp_path / f"catalog{suffix}"
    catalog.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = digest(index)
    one_line_error(*run("add", "--index", str(index), "--catalog", str(catalog), *upsert), *needles)
    assert digest(index) == before


@pytest.mark.parametrize(("content", "needles"), CATALOGUES[:2])
def test_build_index_refuses_and_writes_nothing(
    record_index: RecordIndex, tmp_path: Path, content: str, needles: list[str]
) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(content)
    out = tmp_path / "new-index"
    one_line_error(
        *run(
            "build-index",
            "--model",
            str(record_index.model_dir),
            "--catalog",
            str(catalog),
            "--index",
            str(out),
        ),
        *needles,
    )
    assert not out.exists()


def test_ids_come_from_the_named_column_or_the_row_numbers(record_index: RecordIndex, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("sku,name,price,url\nA-1,sony tv,399,http://a\nA-2,bose speaker,129,\n")
    model = str(record_index.model_dir)
    code, output = run(
        "build-index",
        "--model",
        model,
        "--catalog",
        str(catalog),
        "--index",
        str(tmp_path / "a"),
        "--id-column",
        "sku",
    )
    assert code == 0, output
    code, output = run("query", "--index", str(tmp_path / "a"), "--id", "A-1", "-k", "1", "--json")
    assert code == 0, output
    hit = json.loads(output.splitlines()[-1])["hits"][0]
    assert hit["id"] == "A-2" and hit["metadata"] == {"name": "bose speaker", "price": "129"}  # as written
    code, output = run("query", "--index", str(tmp_path / "a"), "--id", "A-2", "-k", "1", "--json")
    kept = json.loads(output.splitlines()[-1])["hits"][0]["metadata"]
    assert kept == {"name": "sony tv", "price": "399", "url": "http://a"}  # the extra column, kept

    no_ids = tmp_path / "no-ids.csv"
    no_ids.write_text("name,price\nsony tv,399\nbose speaker,129\n")
    code, output = run(
        "build-index", "--model", model, "--catalog", str(no_ids), "--index", str(tmp_path / "b"), "--row-ids"
    )
    assert code == 0, output
    code, output = run("query", "--index", str(tmp_path / "b"), "--id", "0", "-k", "1", "--json")
    assert json.loads(output.splitlines()[-1])["hits"][0]["id"] == 1
    with_ids = tmp_path / "with-ids.csv"
    with_ids.write_text("id,name,price\n7,sony tv,399\n")
    args = ["--catalog", str(with_ids), "--index", str(tmp_path / "c"), "--row-ids"]
    one_line_error(*run("build-index", "--model", model, *args), "no 'id' column", "--row-ids")


def test_encoding_reads_latin_1_everywhere(index: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "latin.csv"
    catalog.write_bytes(b"id,name,price\n50,caf\xe9 cr\xe8me,3\n")
    one_line_error(*run("query", "--index", str(index), "--queries", str(catalog)), "--encoding")
    code, output = run(
        "query", "--index", str(index), "--queries", str(catalog), "--encoding", "latin-1", "--json"
    )
    assert code == 0, output
    code, output = run("add", "--index", str(index), "--catalog", str(catalog), "--encoding", "latin-1")
    assert code == 0, output
    code, output = run("query", "--index", str(index), "--id", "0", "-k", "8", "--json")
    stored = {h["id"]: h["metadata"] for h in json.loads(output.splitlines()[-1])["hits"]}
    assert stored[50]["name"] == "café crème"
    code, output = run("add", "--index", str(index), "--catalog", str(catalog), "--encoding", "klingon")
    assert code == 2 and "Expected a known text encoding" in output


def test_a_field_over_the_csv_modules_128_kib_reads(index: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "long.csv"
    catalog.write_text("id,name,price\n60," + "x" * 200_000 + ",3\n")
    code, output = run("add", "--index", str(index), "--catalog", str(catalog))
    assert code == 0, output


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        pytest.param(["--id", "99999999999999999999999"], ["int64"], id="id-beyond-int64"),
        pytest.param(["--id", "9" * 5000], ["int64"], id="id-5000-digits"),
        pytest.param(["--id", "sony"], ["as an integer"], id="id-not-an-integer"),
        pytest.param(
            ["--record", '{"name": ' + "[" * 5000 + "]" * 5000 + "}"], ["nested too deep"], id="deep-record"
        ),
        pytest.param(["--record", '{"name": [1]}'], ["a text, a number or null"], id="nested-record"),
        pytest.param(
            ["--record", '{"name": "' + "x" * (MAX_TEXT_CHARS + 1) + '"}'], ["characters"], id="long"
        ),
        pytest.param(["--id", "1", "--radius", "1e39"], ["radius", "float32"], id="radius-1e39"),
        pytest.param(["--id", "1", "--radius", "inf"], ["radius"], id="radius-inf"),
    ],
)
def test_query_refuses_in_one_line(index: Path, args: list[str], needles: list[str]) -> None:
    before = digest(index)
    one_line_error(*run("query", "--index", str(index), *args), *needles)
    assert digest(index) == before


def test_delete_reads_its_ids_file_in_the_given_encoding(index: Path, tmp_path: Path) -> None:
    ids_file = tmp_path / "ids.txt"
    ids_file.write_bytes(b"0\n\xe9\n")  # latin-1: not UTF-8
    before = digest(index)
    one_line_error(*run("delete", "--index", str(index), "--ids-file", str(ids_file)), "--encoding", "utf-8")
    assert digest(index) == before
    ids_file.write_bytes("0\n1\n".encode("utf-16"))
    code, output = run("delete", "--index", str(index), "--ids-file", str(ids_file), "--encoding", "utf-16")
    assert code == 0 and output.startswith("Deleted 2 items"), output
