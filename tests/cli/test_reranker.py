"""`simsearch train-reranker`, then `evaluate --reranker` and `query --reranker`, on SYNTHETIC
graded pairs and the SYNTHETIC tiny BERT of `tests/models/test_pretrained.py`.

The oracle is the saved cross-encoder itself, loaded in Python: the CLI must report the metrics
of its scores and order the query hits by them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("tokenizers", reason="the pretrained extra (tokenizers) is not installed")
pytest.importorskip("safetensors", reason="the pretrained extra (safetensors) is not installed")

from models.test_pretrained import write_tiny_bert  # tests/ is on sys.path (rootdir-relative packages)

from simsearch.cli import cli
from simsearch.evaluation.correlation import spearman
from simsearch.evaluation.metrics import pair_metrics
from simsearch.model_config import model_hash
from simsearch.models import SiameseModel
from simsearch.models.cross import CrossEncoder
from simsearch.search.fusion import fuse

from .test_cli import TINY, invoke

COLOURS = ["red", "blue", "black"]
THINGS = ["cat", "dog", "tv", "ipad", "mat", "case"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sentences of the tiny vocabulary; a pair's score (0-5) counts the words they share."""
    root = tmp_path_factory.mktemp("reranker")
    write_tiny_bert(root / "bert")
    rng = np.random.default_rng(0)
    texts = [f"the {c} {t} sat on a {m}" for c in COLOURS for t in THINGS for m in ("mat", "case")]
    (root / "catalog.csv").write_text("id,text\n" + "".join(f"s{i},{t}\n" for i, t in enumerate(texts)))
    for name, n in (("train", 120), ("valid", 40), ("test", 40)):
        rows = []
        for _ in range(n):
            a, b = rng.choice(len(texts), 2, replace=False)
            shared = len(set(texts[a].split()) & set(texts[b].split()))
            score = 2.5 * (shared - 4)  # 4 to 6 shared words (two texts differ) -> 0 to 5
            rows.append(f"s{a},s{b},{int(score >= 2.5)},{score:.3f}")
        (root / f"{name}.csv").write_text("left_id,right_id,label,score\n" + "\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(corpus: Path) -> tuple[Path, Path]:
    model, reranker = corpus / "model", corpus / "cross"
    data = ["--catalog", str(corpus / "catalog.csv"), "--score-column", "score"]
    invoke(
        "train", "--pairs", str(corpus / "train.csv"), *data, "--tower", "text", "--fields", "text",
        "--architecture", "linear", "--out", str(model), *TINY,
    )  # fmt: skip
    result = invoke(
        "train-reranker", "--pairs", str(corpus / "train.csv"), "--valid-pairs", str(corpus / "valid.csv"),
        *data, "--pretrained", str(corpus / "bert"), "--epochs", "2", "--batch-size", "8",
        "--learning-rate", "1e-3", "--sequence-length", "32", "--model", str(model), "--out", str(reranker),
        "--quiet",
    )  # fmt: skip
    assert "Saved cross-encoder re-ranker (text)" in result.output  # type: ignore[attr-defined]
    assert "Held-out pairs (40): spearman" in result.output  # type: ignore[attr-defined]
    assert "With the tower's distance (40): spearman" in result.output  # type: ignore[attr-defined]
    return model, reranker


@pytest.fixture(scope="module")
def index(corpus: Path, trained: tuple[Path, Path]) -> Path:
    """The catalogue indexed with the trained model, once; the tests only read it."""
    path = corpus / "index"
    invoke(
        "build-index",
        "--model",
        str(trained[0]),
        "--catalog",
        str(corpus / "catalog.csv"),
        "--index",
        str(path),
    )
    return path


def _texts(corpus: Path) -> dict[str, str]:
    lines = (corpus / "catalog.csv").read_text().splitlines()[1:]
    return dict(line.split(",", 1) for line in lines)


def test_reranker_directory_records_its_training(trained: tuple[Path, Path]) -> None:
    config = json.loads((trained[1] / "config.json").read_text())
    assert config["kind"] == "cross-encoder"
    assert config["fields"] == ["text"]
    assert config["target"] == {"kind": "graded", "low": pytest.approx(0.0), "high": pytest.approx(5.0)}
    assert config["validation"]["pairs"] == 40 and 0.0 <= config["threshold"] <= 1.0
    assert len(json.loads((trained[1] / "history.json").read_text())["val_score"]) == 2
    fusion = config["fusion"]
    assert fusion["sha256"] == model_hash(trained[0]) and set(fusion["weights"]) == {
        "cross",
        "distance",
        "bias",
    }
    assert fusion["validation"]["pairs"] == 40 and "threshold" in fusion


def test_evaluate_reports_the_cross_encoders_scores_of_the_pairs(
    corpus: Path, trained: tuple[Path, Path]
) -> None:
    model, reranker = trained
    result = invoke(
        "evaluate", "--model", str(model), "--reranker", str(reranker), "--pairs", str(corpus / "test.csv"),
        "--catalog", str(corpus / "catalog.csv"), "--score-column", "score", "--no-plots", "--json",
    )  # fmt: skip
    report = json.loads(result.output)  # type: ignore[attr-defined]
    rows = [line.split(",") for line in (corpus / "test.csv").read_text().splitlines()[1:]]
    texts = _texts(corpus)
    cross = CrossEncoder.load(reranker)
    scores = cross.predict([texts[r[0]] for r in rows], [texts[r[1]] for r in rows])
    same = np.array([int(r[2]) for r in rows])
    gold = np.array([float(r[3]) for r in rows])
    expected = pair_metrics(same, scores, cross.threshold)  # type: ignore[arg-type]
    got = report["pairs (cross-encoder)"]
    for name in ("accuracy", "f1", "roc_auc", "threshold"):
        assert got[name] == pytest.approx(expected[name], abs=1e-6)
    graded = report["graded similarity"]
    assert graded["spearman (cross-encoder)"] == pytest.approx(spearman(scores, gold), abs=1e-6)
    assert "spearman (tower)" in graded  # the tower's figures stay beside it
    tower = SiameseModel.load(model)
    u = tower.encode([texts[r[0]] for r in rows])
    v = tower.encode([texts[r[1]] for r in rows])
    fused = fuse(scores, tower.distance(u, v), cross.fusion["weights"])  # type: ignore[index]
    assert graded["spearman (cross-encoder + tower)"] == pytest.approx(spearman(fused, gold), abs=1e-6)
    expected = pair_metrics(same, fused, cross.fusion["threshold"])  # type: ignore[index]
    assert report["pairs (cross-encoder + tower)"]["f1"] == pytest.approx(expected["f1"], abs=1e-6)


def test_query_orders_the_top_hits_by_the_cross_encoder(
    corpus: Path, trained: tuple[Path, Path], index: Path
) -> None:
    model, reranker = trained
    query = "the red dog sat on a mat"
    result = invoke(
        "query", "--index", str(index), "--reranker", str(reranker), "--text", query, "-k", "5", "--json"
    )
    hits = json.loads(result.output)["hits"]  # type: ignore[attr-defined]
    # The default depth (50) covers the whole 36-item catalogue: the top 5 by the fused score.
    texts = _texts(corpus)
    every = _fused_scores(model, reranker, query, list(texts.values()))
    best = sorted(every, reverse=True)[:5]
    assert [h["score"] for h in hits] == pytest.approx(best, abs=1e-4)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    by_id = _fused_scores(model, reranker, query, [texts[h["id"]] for h in hits])
    assert [h["score"] for h in hits] == pytest.approx(by_id.tolist(), abs=1e-4)


def _fused_scores(model: Path, reranker: Path, query: str, candidates: list[str]) -> np.ndarray:
    cross, tower = CrossEncoder.load(reranker), SiameseModel.load(model)
    distances = tower.distance(np.repeat(tower.encode([query]), len(candidates), 0), tower.encode(candidates))
    return cross.score([query] * len(candidates), candidates, distances)


def test_reranker_misuse_gets_one_clear_line(corpus: Path, trained: tuple[Path, Path]) -> None:
    model, reranker = trained
    bad = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--model",
            str(model),
            "--reranker",
            str(reranker),
            "--data",
            str(corpus / "catalog.csv"),
        ],
    )
    assert bad.exit_code == 1 and "Expected --pairs with --reranker" in bad.output
    bad = CliRunner().invoke(cli, ["query", "--index", str(model), "--reranker", str(model), "--text", "a"])
    assert bad.exit_code == 1 and "Error:" in bad.output


def test_query_by_id_reads_the_querys_stored_text(
    corpus: Path, trained: tuple[Path, Path], index: Path
) -> None:
    model, reranker = trained
    result = invoke(
        "query", "--index", str(index), "--reranker", str(reranker), "--id", "s0", "-k", "3", "--json"
    )
    hits = json.loads(result.output)["hits"]  # type: ignore[attr-defined]
    texts = _texts(corpus)
    others = {i: t for i, t in texts.items() if i != "s0"}  # the query's own item is left out
    every = _fused_scores(model, reranker, texts["s0"], list(others.values()))
    assert "s0" not in [h["id"] for h in hits]
    assert [h["score"] for h in hits] == pytest.approx(sorted(every, reverse=True)[:3], abs=1e-4)


@pytest.mark.slow  # trains a second model (~70 s on 2 cores); fusion is unit-tested
def test_fusion_is_left_out_with_another_model(corpus: Path, trained: tuple[Path, Path]) -> None:
    reranker = trained[1]
    other = corpus / "other_model"
    invoke(
        "train", "--pairs", str(corpus / "train.csv"), "--catalog", str(corpus / "catalog.csv"), "--tower",
        "text", "--fields", "text", "--architecture", "linear", "--seed", "1", "--out", str(other), *TINY,
    )  # fmt: skip
    result = invoke(
        "evaluate", "--model", str(other), "--reranker", str(reranker), "--pairs", str(corpus / "test.csv"),
        "--catalog", str(corpus / "catalog.csv"), "--no-plots", "--json",
    )  # fmt: skip
    report = json.loads(result.output)  # type: ignore[attr-defined]
    assert "pairs (cross-encoder)" in report and "pairs (cross-encoder + tower)" not in report
    assert "fitted with another model" in report["notes"]


def test_compare_reports_the_fused_score_and_its_decision(trained: tuple[Path, Path]) -> None:
    model, reranker = trained
    a, b = "the red dog sat on a mat", "the red dog sat on a case"
    result = invoke("compare", "--model", str(model), "--reranker", str(reranker), "--json", a, b)
    payload = json.loads(result.output)  # type: ignore[attr-defined]
    expected = _fused_scores(model, reranker, a, [b])[0]
    cross = payload["reranker"]
    assert cross["name"] == "cross-encoder + tower"
    assert cross["score"] == pytest.approx(float(expected), abs=1e-4)
    assert cross["same"] == (cross["score"] >= cross["threshold"])
    text = invoke("compare", "--model", str(model), "--reranker", str(reranker), a, b)
    assert "cross-encoder + tower:" in text.output  # type: ignore[attr-defined]


def test_engine_searches_by_vectors_without_the_cross_encoder(
    trained: tuple[Path, Path], index: Path
) -> None:
    from simsearch.engine import SearchEngine
    from simsearch.errors import ConfigError

    reranker = trained[1]
    engine = SearchEngine.load(index, reranker=reranker)
    plain = SearchEngine.load(index)
    xq = engine.model.encode(["the red dog sat on a mat"])
    # No text to read: the model's own default applies, as without a re-ranker.
    assert engine.search(vectors=xq, k=3) == plain.search(vectors=xq, k=3)
    with pytest.raises(ConfigError, match="Expected items or ids to re-rank with a cross-encoder"):
        engine.search(vectors=xq, k=3, rerank=5)


def test_http_search_re_ranks_raw_items_and_ids_with_the_cross_encoder(
    corpus: Path, trained: tuple[Path, Path], index: Path
) -> None:
    from fastapi.testclient import TestClient

    from simsearch.engine import SearchEngine
    from simsearch.server import IndexService, ServerConfig
    from simsearch.server.app import create_app

    model, reranker = trained
    service = IndexService(SearchEngine.load(index, reranker=reranker), ServerConfig())
    texts = _texts(corpus)
    query = "the blue tv sat on a case"
    with TestClient(create_app(service)) as client:
        assert client.get("/stats").json()["reranker"] == str(corpus / "bert")
        by_text = client.post("/search", json={"items": [query], "k": 4}).json()["results"][0]["hits"]
        expected = sorted(_fused_scores(model, reranker, query, list(texts.values())), reverse=True)[:4]
        assert [h["score"] for h in by_text] == pytest.approx(expected, abs=1e-4)
        by_id = client.post("/search", json={"ids": ["s3"], "k": 2}).json()["results"][0]["hits"]
        others = [t for i, t in texts.items() if i != "s3"]
        expected = sorted(_fused_scores(model, reranker, texts["s3"], others), reverse=True)[:2]
        assert [h["score"] for h in by_id] == pytest.approx(expected, abs=1e-4)
        vector = SiameseModel.load(model).encode([query]).tolist()
        plain = client.post("/search", json={"vectors": vector, "k": 3})  # no text: no cross-encoder
        assert plain.status_code == 200
        refused = client.post("/search", json={"vectors": vector, "k": 3, "rerank": 5})
        assert refused.status_code == 400 and "vectors carry no text" in refused.json()["detail"]


def _read_pairs(path: Path) -> dict[tuple[str, str], tuple[float, float]]:
    rows = [line.split(",") for line in path.read_text().splitlines()]
    assert rows[0] == ["left_id", "right_id", "distance", "score"]
    return {(r[0], r[1]): (float(r[2]), float(r[3])) for r in rows[1:]}


@pytest.mark.slow  # ~95 s on 2 cores; the cross-encoder's scoring is unit-tested in tests/search
def test_dedup_and_match_score_candidates_with_the_cross_encoder(
    corpus: Path, trained: tuple[Path, Path], index: Path, tmp_path: Path
) -> None:
    model, reranker = trained
    texts = _texts(corpus)
    # Every candidate (k=3, any distance) by the index alone, then the same ones re-scored.
    invoke(
        "dedup", "--index", str(index), "--out", str(tmp_path / "all.csv"), "-k", "3", "--no-rerank",
        "--threshold", "2.0",
    )  # fmt: skip
    candidates = [line.split(",")[:2] for line in (tmp_path / "all.csv").read_text().splitlines()[1:]]
    expected = {
        (a, b): float(np.clip(_fused_scores(model, reranker, texts[a], [texts[b]])[0], 0, 1))
        for a, b in candidates
    }
    cut = float(np.median(list(expected.values())))
    kept = {pair: score for pair, score in expected.items() if score >= cut}
    assert 0 < len(kept) < len(expected)
    result = invoke(
        "dedup", "--index", str(index), "--out", str(tmp_path / "cross.csv"), "-k", "3",
        "--reranker", str(reranker), "--threshold", str(cut),
    )  # fmt: skip
    assert f"cross-encoder score >= {cut:.4g}" in result.output  # type: ignore[attr-defined]
    got = _read_pairs(tmp_path / "cross.csv")
    assert set(got) == set(kept)
    assert [got[p][1] for p in kept] == pytest.approx(list(kept.values()), abs=1e-4)

    # match: catalogue B's texts are read from its file, A's from the index.
    queries = ["the red dog sat on a case", "the blue ipad sat on a mat"]
    (tmp_path / "b.csv").write_text("id,text\n" + "".join(f"b{i},{q}\n" for i, q in enumerate(queries)))
    result = invoke(
        "match", "--index", str(index), "--catalog", str(tmp_path / "b.csv"), "--out",
        str(tmp_path / "m.csv"), "-k", "4", "--reranker", str(reranker), "--threshold", "0.0",
    )  # fmt: skip
    got = _read_pairs(tmp_path / "m.csv")
    assert len(got) == 8  # threshold 0: every candidate kept, with its score
    for (a, b), (_, score) in got.items():
        query = queries[int(b[1:])]
        assert score == pytest.approx(
            float(np.clip(_fused_scores(model, reranker, texts[a], [query])[0], 0, 1)), abs=1e-4
        )


def test_dedup_reranker_uses_its_calibration_and_refuses_what_it_cannot_do(
    corpus: Path, trained: tuple[Path, Path], index: Path, tmp_path: Path
) -> None:
    reranker = trained[1]
    fusion = json.loads((reranker / "config.json").read_text())["fusion"]
    result = invoke(
        "dedup", "--index", str(index), "--out", str(tmp_path / "p.csv"), "--reranker", str(reranker)
    )
    assert f"cross-encoder score >= {fusion['threshold']:.4g}, calibrated" in result.output  # type: ignore[attr-defined]
    assert len(fusion["curve"]) > 1  # the held-out precision curve, for --min-precision
    result = invoke(
        "dedup", "--index", str(index), "--out", str(tmp_path / "q.csv"), "--reranker", str(reranker),
        "--min-precision", "0.5",
    )  # fmt: skip
    assert "held-out precision >= 0.5" in result.output  # type: ignore[attr-defined]
    for extra in (["--no-rerank"], ["--engine", "dask"]):
        bad = CliRunner().invoke(
            cli,
            [
                "dedup",
                "--index",
                str(index),
                "--out",
                str(tmp_path / "r.csv"),
                "--reranker",
                str(reranker),
                *extra,
            ],
        )
        assert bad.exit_code == 1 and "Expected --reranker with --rerank on the local engine" in bad.output


@pytest.mark.slow  # ~30 s on 2 cores; fusion is unit-tested
def test_reranker_reading_other_fields_than_the_model_still_fuses(corpus: Path, tmp_path: Path) -> None:
    """--fields picks what the cross-encoder reads; the --model's own fields are loaded too, for
    its fused distances (they were left out, and the run failed after its training)."""
    rows = (corpus / "catalog.csv").read_text().splitlines()[1:]
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("id,text,title\n" + "".join(f"{r},{r.split(',')[1].upper()}\n" for r in rows))
    model, reranker = tmp_path / "model", tmp_path / "cross"
    invoke(
        "train", "--pairs", str(corpus / "train.csv"), "--catalog", str(catalog), "--tower", "text",
        "--fields", "text", "--architecture", "linear", "--out", str(model), *TINY,
    )  # fmt: skip
    result = invoke(
        "train-reranker", "--pairs", str(corpus / "train.csv"), "--valid-pairs", str(corpus / "valid.csv"),
        "--catalog", str(catalog), "--fields", "title", "--score-column", "score",
        "--pretrained", str(corpus / "bert"), "--epochs", "1", "--batch-size", "8", "--sequence-length", "32",
        "--model", str(model), "--out", str(reranker), "--quiet",
    )  # fmt: skip
    assert "Saved cross-encoder re-ranker (title)" in result.output  # type: ignore[attr-defined]
    config = json.loads((reranker / "config.json").read_text())
    assert config["fields"] == ["title"] and config["fusion"]["validation"]["pairs"] == 40
