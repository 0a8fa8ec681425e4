"""Explanations through the CLI (`compare --explain`, the `explain` column of `dedup` and
`match`), on a record tower (TF-IDF at its start: title, brand, code) and hand-made pairs whose
deciding field is known."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from simsearch.cli import cli

PRODUCTS = [
    ("digital camera 20mp black", "sony", "dsc-w800"),
    ("digital camera 20mp black", "sony", "dsc-w830"),
    ("wireless noise cancelling headphones", "sony", "wh-1000xm4"),
    ("wireless noise cancelling headphones", "bose", "qc45"),
    ("55 inch 4k smart tv", "lg", "oled55c1"),
    ("55 inch 4k smart tv", "lg", "oled55c1 "),
]
CAMERA = {"title": "digital camera 20mp black", "brand": "sony", "code": "dsc-w800"}


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A record model at its start (title, brand, code; distance threshold 0.05: only near
    copies are the same), its catalogue and its Flat index."""
    from simsearch.data.loaders import load_table
    from simsearch.engine import build_index
    from simsearch.models import SiameseModel, build_head_model
    from simsearch.models.towers import RecordTowerConfig, build_record_tower

    root = tmp_path_factory.mktemp("explain")
    catalog = root / "products.csv"
    catalog.write_text(
        "id,title,brand,code\n" + "".join(f"{i},{t},{b},{c}\n" for i, (t, b, c) in enumerate(PRODUCTS))
    )
    fields = ["title", "brand", "code"]
    items = load_table(catalog, fields=fields)
    tower = build_record_tower(items.fields, RecordTowerConfig(text_fields=tuple(fields), embedding_dim=64))
    config = {
        "kind": "record",
        "inputs": {"text_fields": fields, "numeric_fields": []},
        "dim": 64,
        "metric": "cosine",
        "threshold": {"distance": 0.05, "probability": 0.5},
        "head": {"rerank_default": False},
    }
    SiameseModel(tower, build_head_model(64), config).save(root / "model")
    build_index(root / "model", items, root / "index", factory="Flat")
    return root / "model", catalog, root / "index"


def _compare(model: Path, a: dict[str, str], b: dict[str, str]) -> dict:
    return json.loads(
        invoke("compare", "--model", str(model), "--explain", "--json", json.dumps(a), json.dumps(b))
    )


def test_compare_explain_names_the_differing_code_first(products: tuple[Path, Path, Path]) -> None:
    result = _compare(products[0], CAMERA, {**CAMERA, "code": "dsc-w830"})
    assert result["same"] is False
    fields = result["explain"]["fields"]
    assert fields[0]["field"] == "code" and fields[0]["state"] == "differs" and fields[0]["change"] < 0
    assert {f["field"]: f["state"] for f in fields[1:]} == {"title": "agrees", "brand": "agrees"}
    assert fields[0]["weight"] == {"chars": 1.0, "words": 1.0}  # the tower's field weights, at their start
    assert "tokens" not in fields[0]  # one-word codes: the field is the word


def test_compare_explain_names_the_differing_brand_first(products: tuple[Path, Path, Path]) -> None:
    a = {"title": "wireless noise cancelling headphones", "brand": "sony", "code": ""}
    result = _compare(products[0], a, {**a, "brand": "bose"})
    fields = result["explain"]["fields"]
    assert result["same"] is False
    assert [(f["field"], f["state"]) for f in fields[:2]] == [("brand", "differs"), ("title", "agrees")]
    assert fields[1]["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert fields[2] == {**fields[2], "field": "code", "state": "missing"}


def test_compare_explain_in_text_is_a_line_per_field(products: tuple[Path, Path, Path]) -> None:
    args = json.dumps(CAMERA), json.dumps({**CAMERA, "code": "dsc-w830"})
    output = invoke("compare", "--model", str(products[0]), "--explain", *args)
    lines = output.splitlines()
    why = lines.index(next(line for line in lines if line.startswith("why")))
    assert lines[why + 1].strip().startswith("code differs ")
    assert lines[why + 2].strip().split()[:2] in (["title", "agrees"], ["brand", "agrees"])
    assert "why" not in invoke("compare", "--model", str(products[0]), *args)  # opt-in


def test_compare_explain_refuses_an_image_model(products: tuple[Path, Path, Path], tmp_path: Path) -> None:
    import shutil

    model = Path(shutil.copytree(products[0], tmp_path / "image_model"))
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "kind": "image"}))  # refused before loading
    output = invoke("compare", "--model", str(model), "--explain", "a.png", "b.png", code=1)
    assert "Expected a text or record model with --explain. Received: a model of kind 'image'" in output


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_dedup_explain_adds_a_column_of_compact_json(
    products: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, index = products
    plain, explained = tmp_path / "plain.csv", tmp_path / "explained.csv"
    args = ("dedup", "--index", str(index), "--no-rerank", "--threshold", "0.5", "-k", "3")
    invoke(*args, "--out", str(plain))
    invoke(*args, "--out", str(explained), "--explain")
    assert "explain" not in _rows(plain)[0]  # opt-in
    rows = _rows(explained)
    assert [(r["left_id"], r["right_id"]) for r in rows] == [
        (r["left_id"], r["right_id"]) for r in _rows(plain)
    ]
    cameras = next(r for r in rows if {r["left_id"], r["right_id"]} == {"0", "1"})
    why = json.loads(cameras["explain"])
    assert why["by"] == "distance" and why["value"] == pytest.approx(float(cameras["distance"]), abs=1e-3)
    # a kept pair is judged the same: what pulled it together first, the differing code last
    assert [f["field"] for f in why["fields"]][-1] == "code"
    assert why["fields"][-1]["state"] == "differs"
    changes = [f["change"] for f in why["fields"]]
    assert changes == sorted(changes, reverse=True)


def test_match_explain_reads_catalogue_b_records(products: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, _, index = products
    b = tmp_path / "b.csv"
    b.write_text("id,title,brand,code\nb0,digital camera 20mp black,sony,dsc-w830\n")
    out = tmp_path / "matches.jsonl"
    invoke("match", "--index", str(index), "--catalog", str(b), "--out", str(out), "--no-rerank",
           "--threshold", "0.5", "-k", "2", "--explain")  # fmt: skip
    rows = {r["left_id"]: json.loads(r["explain"]) for r in map(json.loads, out.read_text().splitlines())}
    states = {left: {f["field"]: f["state"] for f in why["fields"]} for left, why in rows.items()}
    assert states[1]["code"] == "agrees"  # B's code is item 1's
    assert states[0]["code"] == "differs"


def test_dedup_explain_refuses_the_dask_engine(products: tuple[Path, Path, Path], tmp_path: Path) -> None:
    output = invoke("dedup", "--index", str(products[2]), "--out", str(tmp_path / "p"), "--engine", "dask",
                    "--explain", code=1)  # fmt: skip
    assert "Expected --explain on the local engine" in output


LABELLED = [(0, 1, 0), (4, 5, 1), (2, 3, 0), (0, 4, 0), (2, 2, 1), (1, 0, 0)]


def _decision(model: Path, catalog: Path, tmp_path: Path) -> dict:
    pairs = tmp_path / "labelled.csv"
    pairs.write_text("left_id,right_id,label\n" + "".join(f"{a},{b},{y}\n" for a, b, y in LABELLED))
    output = invoke("evaluate", "--model", str(model), "--pairs", str(pairs), "--catalog", str(catalog),
                    "--no-plots", "--json")  # fmt: skip
    return json.loads(output)


def test_evaluate_reports_the_decision_dedup_applies(
    products: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from simsearch.evaluation.metrics import pair_metrics
    from simsearch.models import SiameseModel

    model_dir, catalog, index = products
    report = _decision(model_dir, catalog, tmp_path)
    assert list(report)[:2] == ["model", "decision"]
    decision = report["decision"]
    assert (decision["scorer"], decision["threshold"]) == ("distance", 0.05)
    # the same rule as the dedup job prints
    output = invoke("dedup", "--index", str(index), "--out", str(tmp_path / "p.csv"))
    assert f"({decision['rule']})" in output
    # its precision, recall and F1 against the pairs' distances kept by hand
    model = SiameseModel.load(model_dir)
    records = [dict(zip(["title", "brand", "code"], p, strict=True)) for p in PRODUCTS]
    u = model.encode([records[a] for a, _, _ in LABELLED])
    v = model.encode([records[b] for _, b, _ in LABELLED])
    same = [y for _, _, y in LABELLED]
    kept = model.distance(u, v) <= 0.05
    expected = pair_metrics(same, kept.astype(float), 0.5)
    assert decision["kept"] == int(kept.sum())
    for key in ("precision", "recall", "f1"):
        assert decision[key] == pytest.approx(expected[key]), key


def test_evaluate_decision_follows_a_head_that_decides(
    products: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    import shutil

    model_dir, catalog, _ = products
    head_model = tmp_path / "head_model"
    shutil.copytree(model_dir, head_model)
    config = json.loads((head_model / "config.json").read_text())
    config["head"] = {"trained": True, "decides": True, "rerank_default": True}
    (head_model / "config.json").write_text(json.dumps(config))
    report = _decision(head_model, catalog, tmp_path)
    decision = report["decision"]
    assert (decision["scorer"], decision["threshold"]) == ("probability", 0.5)
    assert decision["rule"].startswith("the head decides")
    head = report["pairs (pairwise head)"]  # the head at its threshold, on the same pairs
    assert [decision[k] for k in ("precision", "recall", "f1")] == [
        head[k] for k in ("precision", "recall", "f1")
    ]
    from simsearch.dedup import choose_decision, head_decides  # as dedup's job chooses it

    chosen = choose_decision(config["threshold"], {}, rerank=head_decides(config["head"]))
    assert decision["rule"] == chosen.rule
