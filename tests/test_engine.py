"""The SearchEngine facade and the index commands, with an untrained (but real) tower and head:
what is checked is the plumbing, against brute force over the model's own embeddings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from simsearch.cli import cli
from simsearch.datasets import omniglot_sample
from simsearch.engine import SearchEngine, build_index
from simsearch.errors import ConfigError, DataError, IndexFileError


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simsearch.models import SiameseModel, build_head_model, build_image_tower
    from simsearch.models.towers import ImageTowerConfig

    tower = build_image_tower(ImageTowerConfig(image_size=(28, 28), embedding_dim=32, invert=True))
    head = build_head_model(32)
    config = {
        "kind": "image",
        "inputs": {"image_size": [28, 28], "channels": 1},
        "dim": 32,
        "metric": "cosine",
        "threshold": {"distance": 0.3, "probability": 0.5},
        "head": {"rerank_default": True},
    }
    path = tmp_path_factory.mktemp("engine") / "model"
    SiameseModel(tower, head, config).save(path)
    return path


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = np.load(omniglot_sample("evaluation"))
    root = tmp_path_factory.mktemp("catalog") / "images"
    for image, item in zip(data["images"][:80], data["ids"][:80], strict=True):
        path = root / f"{item}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    return root


@pytest.fixture
def engine(model_dir: Path, catalog: Path, tmp_path: Path) -> SearchEngine:
    from simsearch.data.loaders import load_items

    items = load_items(catalog, labelled=False)
    return build_index(model_dir, items, tmp_path / "index")


def test_search_by_items_vectors_and_ids_agree_with_brute_force(engine: SearchEngine, catalog: Path) -> None:
    from simsearch.data.loaders import load_items

    items = load_items(catalog, labelled=False)
    xb = engine.model.encode(items.images)
    unit = xb / np.linalg.norm(xb, axis=1, keepdims=True)
    cos = unit[:3] @ unit.T
    expected = [items.ids[np.argsort(-row, kind="stable")[:5]].tolist() for row in cos]
    by_items = engine.search(items=items.images[:3], k=5, rerank=0)
    by_vectors = engine.search(vectors=xb[:3], k=5, rerank=0)
    assert [[h.id for h in row] for row in by_items] == expected
    assert [[h.id for h in row] for row in by_vectors] == expected
    np.testing.assert_allclose([h.distance for h in by_items[0]], 1 - np.sort(cos[0])[::-1][:5], atol=1e-5)
    by_ids = engine.search(ids=list(items.ids[:3]), k=4, rerank=0)
    assert [[h.id for h in row] for row in by_ids] == [row[1:] for row in expected]


def test_default_rerank_follows_the_model(engine: SearchEngine) -> None:
    hits = engine.search(ids=[engine.index.ids[0]], k=3)
    assert engine.rerank_default > 0
    assert all(h.score is not None for h in hits[0])


def test_a_query_object_searches_as_its_settings_do(engine: SearchEngine) -> None:
    from simsearch.search import Query

    xq = engine.index.get(list(engine.index.ids[:4]))
    assert engine.make_query(k=3) == Query(k=3, rerank=engine.head_rerank_default)  # the model's default
    for query in (Query(k=3), Query(k=3, rerank=6), Query(radius=0.2)):
        settings = {"k": query.k, "rerank": query.rerank, "radius": query.radius}
        assert engine.search(vectors=xq, query=query) == engine.search(vectors=xq, **settings)
    with pytest.raises(ConfigError, match="Expected a query or its settings"):
        engine.search(vectors=xq, query=Query(k=3), k=5)


def test_models_never_import_the_engine() -> None:
    """`engine` imports `models.*` (in functions); none of them may import `engine` back, at the
    top or inside a function (`models.cross` once did, for `model_hash`)."""
    import ast

    import simsearch.models

    found = []
    for path in Path(simsearch.models.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names += [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
            found += [
                f"{path.name}: {n}" for n in names if n.startswith(("simsearch.engine", "simsearch.cli"))
            ]
    assert found == []


def test_updates_persist_and_reload_exactly(engine: SearchEngine, catalog: Path) -> None:
    gone, kept = engine.index.ids[0], engine.index.ids[1]
    image = np.asarray(Image.open(catalog / kept))
    engine.delete([gone])
    engine.add(image[None], ["copy-of-" + kept], [{"note": "added"}])
    engine.save()
    again = SearchEngine.load(engine.path)
    assert gone not in again.index and ("copy-of-" + kept) in again.index
    assert len(again.index) == len(engine.index)
    top = again.search(ids=["copy-of-" + kept], k=1, rerank=0)[0][0]
    assert top.id == kept and top.distance == pytest.approx(0.0, abs=1e-5)
    with pytest.raises(DataError, match="unknown"):
        again.delete(["never-there"])


def test_a_model_that_does_not_match_the_manifest_is_refused(
    engine: SearchEngine, model_dir: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-model"
    shutil.copytree(model_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["threshold"]["distance"] = 0.9
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(IndexFileError, match="sha256"):
        SearchEngine.load(engine.path, model_dir=other)


def test_bad_queries(engine: SearchEngine) -> None:
    with pytest.raises(DataError, match=r"shape \(n, 32\)"):
        engine.search(vectors=np.zeros((1, 7)), k=3)
    with pytest.raises(DataError, match="finite"):
        engine.search(vectors=np.full((1, 32), np.nan), k=3)
    with pytest.raises(ConfigError, match="exactly one"):
        engine.search(k=3)


def test_cli_build_query_delete(model_dir: Path, catalog: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    index = tmp_path / "cli-index"
    result = runner.invoke(
        cli, ["build-index", "--model", str(model_dir), "--catalog", str(catalog), "--index", str(index)]
    )
    assert result.exit_code == 0, result.output
    assert "Indexed 80 items" in result.output and "Flat" in result.output
    first = "Angelic/character01/00.png"
    result = runner.invoke(
        cli, ["query", "--index", str(index), "--id", first, "-k", "3", "--rerank", "5", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert payload["query"] == first and len(payload["hits"]) == 3
    assert {"id", "distance", "score"} <= set(payload["hits"][0])
    assert first not in [h["id"] for h in payload["hits"]]
    result = runner.invoke(cli, ["delete", "--index", str(index), "--id", first])
    assert result.exit_code == 0 and "79 in" in result.output
    result = runner.invoke(cli, ["delete", "--index", str(index), "--id", first])
    assert result.exit_code == 1 and "unknown" in result.output
    result = runner.invoke(cli, ["query", "--index", str(index), "--text", "hello"])
    assert result.exit_code == 1 and "image model" in result.output
