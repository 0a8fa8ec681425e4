"""Evaluation plots written as PNG files.

Matplotlib is imported inside each function and drawn through the Agg canvas directly (no
`pyplot`, no global backend switch), so `import simsearch.evaluation` stays light and plots work
on headless machines and in threads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, DataError
from simsearch.evaluation.metrics import (
    average_precision,
    check_pairs,
    precision_recall_curve,
    roc_curve,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "plot_distance_histogram",
    "plot_history",
    "plot_neighbours",
    "plot_precision_recall",
    "plot_projection",
    "plot_roc",
]

_DPI = 120
_METHOD_NAMES = {"pca": "PCA", "tsne": "t-SNE"}
_MAX_LEGEND = 60  # classes; beyond that a legend is a wall of text


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=_DPI)
    return path


def _style(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _pair_summary(same: npt.ArrayLike) -> str:
    same_arr = np.asarray(same)
    return f"{len(same_arr):,} pairs, {int(same_arr.sum()):,} same"


def plot_roc(same: npt.ArrayLike, scores: npt.ArrayLike, path: str | Path) -> Path:
    """Plot the ROC curve of a pair scorer with its AUC and the chance diagonal.

    Args:
        same: `(n,)` 0/1, 1 = same pair.
        scores: `(n,) float`, higher = more similar.
        path: the PNG to write; missing folders are created.
    """
    fpr, tpr, _ = roc_curve(same, scores)
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    figure = _new_figure(5.5, 5.0)
    ax = figure.add_subplot()
    ax.plot(fpr, tpr, lw=2, label=f"model (AUC = {auc:.3f})")
    ax.plot([0, 1], [0, 1], ls="--", color="gray", label="chance (AUC = 0.500)")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal")
    _style(ax, f"ROC curve ({_pair_summary(same)})", "False positive rate", "True positive rate")
    ax.legend(loc="lower right")
    return _save(figure, path)


def plot_precision_recall(same: npt.ArrayLike, scores: npt.ArrayLike, path: str | Path) -> Path:
    """Plot the precision-recall curve with its average precision and the chance level."""
    precision, recall, _ = precision_recall_curve(same, scores)
    ap = average_precision(same, scores)
    prevalence = float(np.mean(np.asarray(same)))
    figure = _new_figure(5.5, 5.0)
    ax = figure.add_subplot()
    ax.plot(recall, precision, lw=2, drawstyle="steps-post", label=f"model (AP = {ap:.3f})")
    ax.axhline(prevalence, ls="--", color="gray", label=f"chance (AP = {prevalence:.3f})")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal")
    _style(ax, f"Precision-recall ({_pair_summary(same)})", "Recall", "Precision")
    ax.legend(loc="lower left")
    return _save(figure, path)


def plot_distance_histogram(
    distances: npt.ArrayLike,
    same: npt.ArrayLike,
    path: str | Path,
    *,
    threshold: float | None = None,
    names: tuple[str, str] = ("same pairs", "different pairs"),
    title: str = "Pair distances, same vs different",
) -> Path:
    """Overlay the distance distributions of same and different pairs.

    Each is normalised to unit area, so both stay visible when one class outnumbers the other.

    Args:
        distances: `(n,) float`, lower = more similar.
        same: `(n,)` 0/1, 1 = same pair.
        threshold: a decision distance to mark, or None.
        names: what the 1s and the 0s of `same` are, for the legend.
    """
    same_arr, dist = check_pairs(same, distances)
    n_bins = min(60, max(10, int(math.sqrt(len(dist)))))
    edges = np.histogram_bin_edges(dist, bins=n_bins).tolist()
    figure = _new_figure(7.0, 4.5)
    ax = figure.add_subplot()
    for value, name, color in ((1, names[0], "tab:blue"), (0, names[1], "tab:orange")):
        part = dist[same_arr == value]
        if len(part):
            label = f"{name} (n={len(part):,})"
            ax.hist(part, bins=edges, density=True, color=color, alpha=0.4, label=label)
            # An outline keeps each distribution readable where the two overlap.
            ax.hist(part, bins=edges, density=True, color=color, histtype="step", lw=1.5)
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1.5, label=f"threshold = {threshold:.3g}")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.25)  # headroom for the legend
    _style(ax, title, "Distance (lower = more similar)", "Density")
    ax.legend(loc="upper right")
    return _save(figure, path)


def _metric_families(history: Mapping[str, Sequence[float]]) -> list[str]:
    """Metric names with their `val_` twin folded in, in the order first seen."""
    families = [key.removeprefix("val_") for key in history]
    return list(dict.fromkeys(families))


def plot_history(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """Plot training curves, one panel per metric with its `val_` twin (Keras `History.history`).

    Example:
        >>> plot_history(model.fit(...).history, "runs/exp1/history.png")
    """
    from matplotlib.ticker import MaxNLocator

    families = _metric_families(history)
    if not families or not any(len(values) for values in history.values()):
        raise DataError(f"Expected at least one metric with values. Received: keys={list(history)}")
    ncols = min(3, len(families))
    nrows = math.ceil(len(families) / ncols)
    figure = _new_figure(4.2 * ncols, 3.4 * nrows)
    figure.suptitle("Training history")
    for i, family in enumerate(families):
        ax = figure.add_subplot(nrows, ncols, i + 1)
        for key, name in ((family, "train"), (f"val_{family}", "validation")):
            values = history.get(key, [])
            marker = "o" if 0 < len(values) <= 30 else None
            if len(values):
                ax.plot(np.arange(1, len(values) + 1), values, marker=marker, ms=3, label=name)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _style(ax, family, "Epoch", family)
        ax.legend(loc="best", fontsize="small")
    return _save(figure, path)


def _select_points(
    labels: npt.NDArray[np.int64], max_points: int, max_classes: int, seed: int
) -> npt.NDArray[np.int64]:
    """Rows of up to `max_classes` random classes, then at most `max_points` of them."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels[labels >= 0])
    if len(classes) > max_classes:
        classes = np.sort(rng.choice(classes, max_classes, replace=False))
    rows = np.flatnonzero(np.isin(labels, classes))
    if len(rows) > max_points:
        rows = np.sort(rng.choice(rows, max_points, replace=False))
    return rows


def _pca_2d(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], list[str]]:
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    points = np.zeros((len(x), 2))
    n = min(2, len(s))
    points[:, :n] = u[:, :n] * s[:n]
    share = s**2 / max(float((s**2).sum()), 1e-12)
    labels = [
        f"PC{i + 1} ({share[i]:.1%} of variance)" if i < n else f"PC{i + 1}" for i in range(2)
    ]
    return points, labels


def _tsne_2d(x: npt.NDArray[np.float64], seed: int) -> tuple[npt.NDArray[np.float64], list[str]]:
    try:
        from sklearn.manifold import TSNE
    except ImportError as error:
        raise ConfigError(
            "Expected scikit-learn for method='tsne'. Received: it is not installed; run "
            "`pip install scikit-learn` or use method='pca'"
        ) from error
    perplexity = float(min(30.0, max(1.0, (len(x) - 1) / 3)))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(x), ["t-SNE 1", "t-SNE 2"]


def plot_projection(
    embeddings: npt.ArrayLike,
    labels: npt.ArrayLike,
    path: str | Path,
    *,
    method: Literal["pca", "tsne"] = "pca",
    max_points: int = 2000,
    max_classes: int = 20,
    seed: int = 0,
) -> Path:
    """Scatter the embeddings in 2-D, coloured by class.

    Up to `max_classes` classes are picked at random (seeded), then up to `max_points` of their
    items; unlabelled items (negative label) are left out. PCA runs in numpy; t-SNE needs
    scikit-learn.

    Args:
        embeddings: `(n, dim) float32`.
        labels: `(n,) int64`.
        method: "pca" or "tsne".

    Raises:
        ConfigError: unknown `method`, or "tsne" without scikit-learn.
        DataError: mismatched inputs or fewer than 2 labelled items.
    """
    if method not in ("pca", "tsne"):
        raise ConfigError(f"Expected method in ('pca', 'tsne'). Received: method={method!r}")
    emb, lab = np.asarray(embeddings, dtype=np.float64), np.asarray(labels)
    if emb.ndim != 2 or lab.shape != (len(emb),):
        raise DataError(
            "Expected embeddings (n, dim) and labels (n,). "
            f"Received: embeddings.shape={emb.shape}, labels.shape={lab.shape}"
        )
    rows = _select_points(lab, max_points, max_classes, seed)
    if len(rows) < 2:
        raise DataError(f"Expected at least 2 labelled items. Received: {len(rows)}")
    if not np.isfinite(emb[rows]).all():
        raise DataError("Expected finite embeddings. Received: NaN or infinite values")
    points, axis_labels = _pca_2d(emb[rows]) if method == "pca" else _tsne_2d(emb[rows], seed)
    n_classes = len(np.unique(lab[lab >= 0]))
    return _scatter_by_class(points, lab[rows], path, axis_labels, method, n_classes)


def _scatter_by_class(
    points: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    path: str | Path,
    axis_labels: list[str],
    method: str,
    n_classes: int,
) -> Path:
    shown = np.unique(labels)
    colors = _class_colors(len(shown))
    figure = _new_figure(7.5, 6.0)
    ax = figure.add_subplot()
    for i, label in enumerate(shown):
        mine = labels == label
        ax.scatter(
            points[mine, 0],
            points[mine, 1],
            s=14,
            alpha=0.8,
            color=colors[i],
            label=str(label),
            edgecolors="none",
        )
    title = (
        f"{_METHOD_NAMES[method]} of {len(points):,} embeddings, "
        f"{len(shown)} of {n_classes} classes"
    )
    if len(shown) > _MAX_LEGEND:
        title += " (too many for a legend)"
    _style(ax, title, axis_labels[0], axis_labels[1])
    if len(shown) <= _MAX_LEGEND:
        ax.legend(
            title="class",
            loc="center left",
            bbox_to_anchor=(1.02, 0.5),
            fontsize="small",
            markerscale=1.5,
            ncols=math.ceil(len(shown) / 20),
        )
    return _save(figure, path)


def _class_colors(n: int) -> list[tuple[float, float, float, float]]:
    """`n` distinct colours: the 60 of tab20/tab20b/tab20c, then evenly spread turbo hues."""
    from matplotlib import colormaps

    if n <= 60:
        return [colormaps[name](i) for name in ("tab20", "tab20b", "tab20c") for i in range(20)][:n]
    return [colormaps["turbo"](x) for x in np.linspace(0, 1, n)]


def plot_neighbours(
    queries: npt.ArrayLike,
    neighbours: npt.ArrayLike,
    distances: npt.ArrayLike,
    correct: npt.ArrayLike,
    path: str | Path,
    *,
    query_labels: Sequence[str] | None = None,
    neighbour_labels: Sequence[Sequence[str]] | None = None,
    threshold: float | None = None,
    title: str = "Nearest neighbours",
) -> Path:
    """Draw each query image beside its nearest neighbours, with their distances: a green frame
    for a right neighbour (same class), red for a wrong one; with `threshold`, neighbours farther
    than it are faded and marked "rejected".

    Args:
        queries: `(q, h, w, c)` images in [0, 1] (c = 1 or 3).
        neighbours: `(q, k, h, w, c)` their nearest neighbours, nearest first.
        distances: `(q, k)` the distances.
        correct: `(q, k)` whether each neighbour is of the query's class.
        query_labels, neighbour_labels: class names to print, `(q,)` and `(q, k)`.
    """
    xq, xn = np.asarray(queries, dtype=np.float32), np.asarray(neighbours, dtype=np.float32)
    dist, right = np.asarray(distances, dtype=np.float64), np.asarray(correct, dtype=bool)
    if xq.ndim != 4 or xn.ndim != 5 or xn.shape[:2] != dist.shape or dist.shape != right.shape:
        raise DataError(
            "Expected queries (q, h, w, c), neighbours (q, k, h, w, c), distances and correct (q, k). "
            f"Received: {xq.shape}, {xn.shape}, {dist.shape}, {right.shape}"
        )
    q, k = dist.shape
    figure = _new_figure(1.6 * (k + 1), 1.9 * q + 0.4)
    figure.suptitle(title)
    for row in range(q):
        name = "" if query_labels is None else f"\n{query_labels[row]}"
        _image_cell(figure.add_subplot(q, k + 1, row * (k + 1) + 1), xq[row], f"query{name}", "black")
        for col in range(k):
            rejected = threshold is not None and dist[row, col] > threshold
            label = "" if neighbour_labels is None else f"{neighbour_labels[row][col]}\n"
            text = f"{label}d={dist[row, col]:.3f}" + (" rejected" if rejected else "")
            ax = figure.add_subplot(q, k + 1, row * (k + 1) + col + 2)
            color = "tab:green" if right[row, col] else "tab:red"
            _image_cell(ax, xn[row, col], text, color, faded=rejected)
    return _save(figure, path)


def _image_cell(ax: Axes, image: np.ndarray, text: str, color: str, faded: bool = False) -> None:
    pixels = image[..., 0] if image.shape[-1] == 1 else image
    ax.imshow(np.clip(pixels, 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0, alpha=0.45 if faded else 1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color(color)
        spine.set_linewidth(3)
        spine.set_linestyle("--" if faded else "-")
    ax.set_title(text, fontsize=7, color=color if color != "black" else "black")
