"""`SiameseModel`: its model directory (round trip, atomic save, version and file checks),
`compare`, and `encode` on raw images of other sizes and dtypes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from simsearch.data.items import Items
from simsearch.errors import DataError, ModelDirError
from simsearch.models.siamese import FORMAT_VERSION, Comparison, SiameseModel

FILES = ["config.json", "head.keras", "history.json", "tower.keras"]


@pytest.fixture(scope="module")
def images(omniglot_split: tuple[Items, Items]) -> np.ndarray:
    """Twelve held-out Omniglot images `(12, 28, 28, 1)` in [0, 1]: 2 of each of 6 characters."""
    val = omniglot_split[1]
    rows = np.concatenate(
        [np.flatnonzero(val.labels == label)[:2] for label in np.unique(val.labels)[:6]]
    )
    return val.images[rows]


@pytest.fixture(scope="module")
def saved(tiny_model: SiameseModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model.save(tmp_path_factory.mktemp("models") / "omniglot")


@pytest.fixture(scope="module")
def loaded(saved: Path) -> SiameseModel:
    return SiameseModel.load(saved)


def _copy(saved: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved, tmp_path / "copy"))


def test_save_writes_the_documented_files(saved: Path) -> None:
    assert sorted(os.listdir(saved)) == FILES
    config = json.loads((saved / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION
    assert "simsearch_version" in config


def test_load_gives_the_same_embeddings_and_scores(
    tiny_model: SiameseModel, loaded: SiameseModel, images: np.ndarray
) -> None:
    expected = tiny_model.encode(images)
    np.testing.assert_allclose(loaded.encode(images), expected, atol=1e-6)
    u, v = expected[:6], expected[6:]
    np.testing.assert_allclose(loaded.score_pairs(u, v), tiny_model.score_pairs(u, v), atol=1e-6)


def test_load_preserves_config_and_history(tiny_model: SiameseModel, loaded: SiameseModel) -> None:
    as_json = json.loads(json.dumps(tiny_model.config))  # tuples come back as lists
    assert {
        k: v for k, v in loaded.config.items() if k not in ("format_version", "simsearch_version")
    } == as_json
    assert (loaded.kind, loaded.dim, loaded.metric) == (
        tiny_model.kind,
        tiny_model.dim,
        tiny_model.metric,
    )
    assert loaded.threshold == tiny_model.threshold
    assert loaded.history == tiny_model.history


def test_head_keras_runs_without_the_tower(
    tiny_model: SiameseModel, saved: Path, images: np.ndarray
) -> None:
    e = tiny_model.encode(images)
    head = keras.models.load_model(saved / "head.keras", safe_mode=True, compile=False)
    p = head.predict({"u": e[:6], "v": e[6:]}, verbose=0)
    np.testing.assert_allclose(p, tiny_model.score_pairs(e[:6], e[6:]), atol=1e-6)


def test_failed_save_keeps_the_previous_directory(
    tiny_model: SiameseModel, tmp_path: Path, images: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model"
    tiny_model.save(target)
    before = {name: (target / name).read_bytes() for name in FILES}

    import simsearch.models.siamese as siamese

    real_copy = siamese._inference_copy

    def disk_full_on_head(model: Any) -> Any:
        if model is tiny_model.head:
            raise OSError("disk full")
        return real_copy(model)

    # The head is written after the tower (whose .keras carries its save date), before the JSON.
    monkeypatch.setattr(siamese, "_inference_copy", disk_full_on_head)
    with pytest.raises(OSError, match="disk full"):
        tiny_model.save(target)
    assert os.listdir(tmp_path) == ["model"], "a temporary directory was left behind"
    assert {name: (target / name).read_bytes() for name in sorted(os.listdir(target))} == before
    np.testing.assert_allclose(
        SiameseModel.load(target).encode(images), tiny_model.encode(images), atol=1e-6
    )


def test_save_over_an_existing_directory_replaces_it(
    tiny_model: SiameseModel, tmp_path: Path
) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.txt").write_text("from an older model")
    tiny_model.save(target)
    assert os.listdir(tmp_path) == ["model"]
    assert sorted(os.listdir(target)) == FILES


def test_load_rejects_another_format_version(saved: Path, tmp_path: Path) -> None:
    root = _copy(saved, tmp_path)
    config = json.loads((root / "config.json").read_text())
    (root / "config.json").write_text(json.dumps({**config, "format_version": 999}))
    with pytest.raises(ModelDirError, match="format_version=999"):
        SiameseModel.load(root)


@pytest.mark.parametrize("name", ["tower.keras", "head.keras", "config.json"])
def test_load_names_a_missing_file(saved: Path, tmp_path: Path, name: str) -> None:
    root = _copy(saved, tmp_path)
    (root / name).unlink()
    with pytest.raises(ModelDirError, match=f"Missing: \\['{name}'\\]"):
        SiameseModel.load(root)


def test_load_rejects_a_missing_directory_and_broken_json(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match="not a directory"):
        SiameseModel.load(tmp_path / "nowhere")
    root = _copy(saved, tmp_path)
    (root / "config.json").write_text("{not json")
    with pytest.raises(ModelDirError, match="Expected JSON"):
        SiameseModel.load(root)


def test_compare_reports_distance_probability_and_decision(
    tiny_model: SiameseModel, images: np.ndarray
) -> None:
    result = tiny_model.compare(images[0], images[2])
    assert isinstance(result, Comparison)
    assert isinstance(result.same, bool)
    assert 0.0 < result.probability < 1.0
    u, v = tiny_model.encode(images[[0]]), tiny_model.encode(images[[2]])
    assert result.distance == pytest.approx(float(tiny_model.distance(u, v)[0]), abs=1e-6)
    assert result.probability == pytest.approx(float(tiny_model.score_pairs(u, v)[0]), abs=1e-6)
    itself = tiny_model.compare(images[0], images[0])
    assert itself.distance == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize(
    ("head_helps", "threshold", "rule"),
    [
        (True, {"distance": 0.3, "probability": 0.6}, "head probability"),
        (False, {"distance": 0.3, "probability": 0.6}, "distance"),
        (True, {"distance": None, "probability": None}, "head probability at 0.5"),
    ],
    ids=["head-beat-distance", "distance-beat-head", "uncalibrated"],
)
def test_compare_decides_by_the_rule_validation_chose(
    tiny_model: SiameseModel,
    images: np.ndarray,
    head_helps: bool,
    threshold: dict[str, float | None],
    rule: str,
) -> None:
    config = {
        **tiny_model.config,
        "threshold": threshold,
        "head": {**tiny_model.config["head"], "rerank_default": head_helps},
    }
    model = SiameseModel(tiny_model.tower, tiny_model.head, config)
    for a, b in [(0, 1), (0, 2)]:  # same character, different characters
        result = model.compare(images[a], images[b])
        assert result.decided_by.startswith(rule)
        if rule == "distance":
            assert result.same == (result.distance <= 0.3)
        else:
            assert result.same == (result.probability >= (0.6 if threshold["probability"] else 0.5))


def test_distance_follows_the_metric(tiny_model: SiameseModel) -> None:
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(2, 5, 16)).astype(np.float32)
    cos = np.sum(u * v, axis=1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
    np.testing.assert_allclose(tiny_model.distance(u, v), 1.0 - cos, rtol=1e-5)
    l2 = SiameseModel(tiny_model.tower, tiny_model.head, {**tiny_model.config, "metric": "l2"})
    np.testing.assert_allclose(l2.distance(u, v), np.linalg.norm(u - v, axis=1), rtol=1e-5)


def test_encode_resizes_images_of_another_size(
    tiny_model: SiameseModel, images: np.ndarray
) -> None:
    # Each pixel doubled: area resizing back to 28×28 gives the very same images.
    doubled = images.repeat(2, axis=1).repeat(2, axis=2)
    assert doubled.shape[1:] == (56, 56, 1)
    np.testing.assert_allclose(tiny_model.encode(doubled), tiny_model.encode(images), atol=1e-5)


def test_encode_takes_uint8_and_missing_channel_axis(
    tiny_model: SiameseModel, images: np.ndarray
) -> None:
    raw = np.round(images[..., 0] * 255).astype(np.uint8)  # (n, 28, 28) uint8, as in the npz
    embeddings = tiny_model.encode(raw)
    assert embeddings.shape == (len(images), tiny_model.dim)
    assert embeddings.dtype == np.float32
    np.testing.assert_allclose(
        embeddings, tiny_model.encode(raw[..., None] / np.float32(255)), atol=1e-6
    )
    np.testing.assert_allclose(embeddings, tiny_model.encode(images), atol=1e-2)


@pytest.mark.parametrize(
    "content",
    [
        np.zeros(784, np.float32),
        np.zeros((28, 28), np.float32),
        np.zeros((1, 2, 28, 28, 1), np.float32),
        np.zeros((2, 28, 28, 2), np.float32),
        np.full((2, 28, 28), np.nan, np.float32),
    ],
    ids=["flat", "one-image-no-batch", "5d", "two-channels", "nan"],
)
def test_encode_rejects_bad_shapes(tiny_model: SiameseModel, content: np.ndarray) -> None:
    with pytest.raises(DataError, match="Expected"):
        tiny_model.encode(content)


def test_score_pairs_rejects_embeddings_of_another_width(tiny_model: SiameseModel) -> None:
    with pytest.raises(DataError, match=f"Expected two \\(n, {tiny_model.dim}\\) arrays"):
        tiny_model.score_pairs(np.zeros((3, 4)), np.zeros((3, 4)))


def test_a_loaded_model_reads_its_head_on_first_use(tiny_model: SiameseModel, saved: Path) -> None:
    model = SiameseModel.load(saved)
    assert model._head is None  # a search that does not re-rank never pays for head.keras
    u = model.encode(np.zeros((2, 28, 28, 1), np.float32))
    np.testing.assert_allclose(model.score_pairs(u, u), tiny_model.score_pairs(u, u), atol=1e-6)
    assert model._head is not None
