"""Person records through the CLI: train says which fields it compares as numbers and why, a
postcode keeps its leading zero from the CSV to `query --json`, and `--map` reads a catalogue
whose column names differ from the model's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from simsearch.cli import cli

# SYNTHETIC person records, written as a user's CSV holds them.
PEOPLE = [
    ("connor beckwith", "0832", "19850612", "12.50"),
    ("olivia artis", "0833", "19901231", "9.75"),
    ("mia chen", "2000", "19770101", "101.00"),
    ("liam oneil", "2612", "20010704", "55.10"),
    ("ava rossi", "3000", "19690315", "7.00"),
    ("noah kim", "0870", "19951120", "18.40"),
]


@pytest.fixture(scope="module")
def people_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An untrained record model (`name`, `postcode` text) over `PEOPLE` and its index built by
    the CLI: the plumbing is under test, not the quality."""
    from simsearch.models import SiameseModel, build_head_model
    from simsearch.models.towers import RecordTowerConfig, build_record_tower

    root = tmp_path_factory.mktemp("people")
    catalog = root / "people.csv"
    catalog.write_text(
        "id,name,postcode\n" + "".join(f"p{i},{n},{z}\n" for i, (n, z, _, _) in enumerate(PEOPLE))
    )
    columns = {"name": [p[0] for p in PEOPLE], "postcode": [p[1] for p in PEOPLE]}
    tower = build_record_tower(columns, RecordTowerConfig(text_fields=("name", "postcode"), embedding_dim=8))
    config = {
        "kind": "record",
        "inputs": {"text_fields": ["name", "postcode"], "numeric_fields": []},
        "dim": 8,
        "metric": "cosine",
        "threshold": {"distance": 0.3},
        "head": {"rerank_default": False},
    }
    SiameseModel(tower, build_head_model(8), config).save(root / "model")
    args = ["build-index", "--model", str(root / "model"), "--catalog", str(catalog)]
    result = CliRunner().invoke(cli, [*args, "--index", str(root / "index"), "--factory", "Flat"])
    assert result.exit_code == 0, result.output
    return root / "model", root / "index"


def _query_json(index: Path, *args: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["query", "--index", str(index), "-k", "10", "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]


def test_a_postcode_keeps_its_leading_zero_from_csv_to_query_json(people_index: tuple[Path, Path]) -> None:
    _, index = people_index
    hits = _query_json(index, "--id", "p2")[0]["hits"]
    stored = {hit["id"]: hit["metadata"]["postcode"] for hit in hits}
    assert stored == {f"p{i}": p[1] for i, p in enumerate(PEOPLE) if i != 2}  # '0832', not 832.0
    assert stored["p0"] == "0832"


def test_map_reads_a_catalogue_whose_columns_differ(people_index: tuple[Path, Path], tmp_path: Path) -> None:
    model, index = people_index
    other = tmp_path / "other.csv"
    other.write_text("id,full_name,zip\nq1,connor beckwith,0832\n")
    payload = _query_json(index, "--queries", str(other), "--map", "name=full_name", "--map", "postcode=zip")
    assert payload[0]["query"] == "q1" and payload[0]["hits"][0]["id"] == "p0"  # the same record
    result = CliRunner().invoke(
        cli,
        ["build-index", "--model", str(model), "--catalog", str(other), "--index", str(tmp_path / "i"),
         "--map", "name=full_name", "--map", "postcode=zip"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert _query_json(tmp_path / "i", "--id", "q1")[0]["query"] == "q1"
    result = CliRunner().invoke(
        cli, ["query", "--index", str(index), "--queries", str(other), "--map", "name=full_name"]
    )
    assert result.exit_code == 1
    assert "(missing ['postcode'])" in result.output and "--map FIELD=COLUMN" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(
        cli, ["query", "--index", str(index), "--queries", str(other), "--map", "name"]
    )
    assert (
        result.exit_code == 1
        and "Expected --map FIELD=COLUMN (e.g. name=title). Received: 'name'" in result.output
    )


def _person_pairs(tmp_path: Path) -> list[str]:
    """`train` arguments over SYNTHETIC person pairs: each person and a typo of their name."""
    catalog = tmp_path / "people.csv"
    rows = [(f"a{i}", *p) for i, p in enumerate(PEOPLE)]
    rows += [(f"b{i}", p[0] + "x", *p[1:]) for i, p in enumerate(PEOPLE)]
    catalog.write_text("id,name,postcode,dob,price\n" + "".join(",".join(r) + "\n" for r in rows))
    pairs = tmp_path / "pairs.csv"
    links = [f"a{i},b{i},1\na{i},b{(i + 1) % len(PEOPLE)},0\n" for i in range(len(PEOPLE))]
    pairs.write_text("left_id,right_id,label\n" + "".join(links))
    return ["train", "--pairs", str(pairs), "--catalog", str(catalog), "--tower", "record"]


def test_train_says_each_fields_type_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import simsearch.models.training as training
    from simsearch.errors import SimsearchError

    chosen: dict[str, list[str]] = {}

    def stop(*args: object, tower_settings: dict[str, list[str]], **kwargs: object) -> None:
        chosen.update(tower_settings)
        raise SimsearchError("stopped before training")

    monkeypatch.setattr(training, "train_pairs", stop)
    result = CliRunner().invoke(cli, [*_person_pairs(tmp_path), "--out", str(tmp_path / "m")])
    assert "stopped before training" in result.output
    assert "Field types (change with --numeric-fields or --text-fields):" in result.output
    assert "  postcode: text (the name says a code, an identifier or a date: 'postcode')" in result.output
    assert "  dob: text (the name says a code, an identifier or a date: 'dob')" in result.output
    assert "  price: number (numbers under a quantity's name: 'price')" in result.output
    assert (chosen["text_fields"], chosen["numeric_fields"]) == (["name", "postcode", "dob"], ["price"])
    result = CliRunner().invoke(cli, [*_person_pairs(tmp_path), "--out", "m", "--numeric-fields", ""])
    assert chosen["numeric_fields"] == [] and "  price: text (not in --numeric-fields)" in result.output
    args = [*_person_pairs(tmp_path), "--out", "m", "--numeric-fields", "dob", "--text-fields", "dob"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and "not both. Received: ['dob']" in result.output


@pytest.mark.slow
def test_a_trained_model_records_the_types(tmp_path: Path) -> None:
    tiny = ["--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4", "--head-epochs", "1"]
    result = CliRunner().invoke(cli, [*_person_pairs(tmp_path), "--out", str(tmp_path / "m"), *tiny])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["inputs"] == {"text_fields": ["name", "postcode", "dob"], "numeric_fields": ["price"]}
