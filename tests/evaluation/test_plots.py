"""Plots write real PNG files."""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
from PIL import Image

from simsearch.errors import ConfigError, DataError
from simsearch.evaluation import plots


def _pairs(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    same = (rng.random(n) < 0.3).astype(int)
    distances = np.abs(rng.normal(0.6, 0.2, n) - 0.35 * same)
    return same, distances


def _clusters(n_classes: int = 30, per_class: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    embeddings = 3 * rng.normal(size=(n_classes, 64))[labels] + rng.normal(size=(len(labels), 64))
    return embeddings.astype(np.float32), labels


def _assert_png(path, min_size=(400, 300)):
    assert path.is_file() and path.stat().st_size > 5_000
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        # Something was drawn: far from a blank canvas.
        assert len(image.convert("L").getcolors(maxcolors=1 << 16)) > 20


def test_plot_roc(tmp_path):
    same, distances = _pairs()
    path = plots.plot_roc(same, -distances, tmp_path / "sub" / "roc.png")
    assert path == tmp_path / "sub" / "roc.png"
    _assert_png(path)


def test_plot_precision_recall(tmp_path):
    same, distances = _pairs()
    _assert_png(plots.plot_precision_recall(same, -distances, tmp_path / "pr.png"))


def test_plot_distance_histogram(tmp_path):
    same, distances = _pairs()
    path = plots.plot_distance_histogram(distances, same, tmp_path / "hist.png", threshold=0.42)
    _assert_png(path)


def test_plot_distance_histogram_rejects_mismatched_input(tmp_path):
    with pytest.raises(DataError, match="one score per pair"):
        plots.plot_distance_histogram([0.1, 0.2], [1], tmp_path / "x.png")


def test_plot_history(tmp_path):
    epochs = np.arange(1, 13)
    history = {
        "loss": list(1 / epochs),
        "val_loss": list(1.2 / epochs + 0.05),
        "accuracy": list(1 - 0.5 / epochs),
        "val_accuracy": list(1 - 0.6 / epochs),
        "learning_rate": [1e-3] * 6 + [1e-4] * 6,
    }
    _assert_png(plots.plot_history(history, tmp_path / "history.png"), min_size=(1200, 350))


def test_plot_history_needs_values(tmp_path):
    with pytest.raises(DataError, match="at least one metric"):
        plots.plot_history({"loss": []}, tmp_path / "history.png")


def test_plot_projection_pca(tmp_path):
    embeddings, labels = _clusters()
    _assert_png(plots.plot_projection(embeddings, labels, tmp_path / "pca.png", max_points=500))


def test_plot_projection_tsne(tmp_path, monkeypatch):
    manifold = pytest.importorskip("sklearn.manifold")
    # The fewest iterations scikit-learn allows, to keep the test fast; the default is 1000.
    monkeypatch.setattr(manifold, "TSNE", functools.partial(manifold.TSNE, max_iter=250))
    embeddings, labels = _clusters(n_classes=6, per_class=8)
    _assert_png(plots.plot_projection(embeddings, labels, tmp_path / "tsne.png", method="tsne"))


def test_select_points_caps_classes_and_points():
    labels = np.repeat(np.arange(50), 100)
    rows = plots._select_points(labels, max_points=300, max_classes=7, seed=0)
    assert len(rows) == 300 and len(np.unique(labels[rows])) == 7


def test_tsne_without_sklearn_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)  # makes the import fail
    embeddings, labels = _clusters(n_classes=3, per_class=5)
    with pytest.raises(ConfigError, match="pip install scikit-learn"):
        plots.plot_projection(embeddings, labels, tmp_path / "tsne.png", method="tsne")


def test_plot_projection_rejects_unknown_method(tmp_path):
    embeddings, labels = _clusters(n_classes=3, per_class=5)
    with pytest.raises(ConfigError, match="method"):
        plots.plot_projection(embeddings, labels, tmp_path / "x.png", method="umap")
