"""The image and identification parts of `simsearch evaluate`: loading images at the model's
size, open-set identification of probes against an index (`--index`), per-pair and per-hit
files, and the nearest-neighbour plots."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from simsearch.cli._common import load_data, model_fields
from simsearch.data.items import Items
from simsearch.search.identify import hit_identity as hit_class
from simsearch.tower_kinds import tower_kind

_GRID_QUERIES = 8
_GRID_K = 5


def load_for_model(path: Path, model: Any, fields: list[str] | None, labelled: bool = True) -> Items:
    """Load items as the model takes them: images at its (square) size, photos for a face model
    (at their size), else its fields."""
    catalogue = tower_kind(model.kind).catalogue
    if catalogue == "faces":
        from simsearch.cli._faces import load_faces

        return load_faces(path, model.config["inputs"].get("face", {}), labelled=labelled)
    if catalogue != "images":
        return load_data(path, fields=fields, image_size=None, labelled=labelled)
    size = model.config["inputs"].get("image_size")
    square = bool(size) and size[0] == size[1]
    return load_data(path, fields=None, image_size=int(size[0]) if square else None, labelled=labelled)


def identify(index_dir: Path, probes_path: Path, options: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Search every labelled probe in the index and score open-set identification at the
    threshold (`--threshold`, `--min-precision`, `--max-far`, else the index's from `enrol
    --max-far`, else the model's calibrated distance threshold)."""
    from simsearch.engine import SearchEngine
    from simsearch.evaluation.identification import identification_metrics

    engine = SearchEngine.load(index_dir)
    model = engine.model
    probes = load_for_model(probes_path, model, model_fields(model))
    ks = sorted({int(k) for k in options["ks"]})
    hits = engine.search(items=probes.content(), k=max(ks), rerank=0)
    gallery = {hit_class(h) for h in _gallery_hits(engine)}
    probe_classes = np.array([probes.classes[label] for label in probes.labels], dtype=object)
    width = max(len(row) for row in hits)
    classes = np.array([[hit_class(h) for h in _pad(row, width)] for row in hits], dtype=object)
    distances = np.array([[h.distance for h in _pad(row, width)] for row in hits], dtype=np.float64)
    threshold = _threshold(model, options, engine.identify_threshold, gallery_size=len(engine.index))
    report = identification_metrics(probe_classes, classes, distances, gallery, threshold, ks=ks)
    report["n_gallery_items"] = len(engine.index)
    result = {
        "probes": probes,
        "probe_classes": probe_classes,
        "hits": hits,
        "classes": classes,
        "distances": distances,
        "enrolled": np.isin(probe_classes, list(gallery)),
        "threshold": float(threshold),
    }
    return {"index": str(index_dir), "identification (open set)": report}, result


def _threshold(
    model: Any, options: dict[str, Any], stored: float | None = None, gallery_size: int = 1
) -> float:
    """`--threshold`, else the threshold for `--min-precision` or `--max-far` on the model's
    held-out pairs, else the one `stored` in the index at enrolment, else the calibrated (best-F1)
    one."""
    from simsearch.search.identify import choose_threshold

    return choose_threshold(
        model.threshold,
        model.calibration,
        stored,
        threshold=options.get("threshold"),
        min_precision=options.get("min_precision"),
        max_far=options.get("max_far"),
        gallery_size=gallery_size,
    )


def _gallery_hits(engine: Any) -> list[Any]:
    from simsearch.search.hits import Hit

    ids = list(engine.index.ids)
    return [Hit(i, 0.0, None, m or {}) for i, m in zip(ids, engine.index.metadata(ids), strict=True)]


def _pad(row: list[Any], width: int) -> list[Any]:
    from simsearch.search.hits import Hit

    return row + [Hit("", float("inf"), None, {"label": ""})] * (width - len(row))


def write_hits(path: Path, result: dict[str, Any]) -> None:
    """One row per probe and rank: the probe, the hit, its distance, accepted and right."""
    probes: Items = result["probes"]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["query_id", "query_class", "enrolled", "rank", "id", "class", "distance", "accepted", "correct"]
        )
        for i, row in enumerate(result["hits"]):
            for rank, hit in enumerate(row, 1):
                cls = hit_class(hit)
                writer.writerow(
                    [
                        probes.ids[i],
                        result["probe_classes"][i],
                        int(result["enrolled"][i]),
                        rank,
                        hit.id,
                        cls,
                        f"{hit.distance:.6f}",
                        int(hit.distance <= result["threshold"]),
                        int(cls == result["probe_classes"][i]),
                    ]
                )


def write_scores(path: Path, left_ids: Any, right_ids: Any, evaluation: Any) -> None:
    """One row per pair: ids, label, distance and the head's probability."""
    probabilities = evaluation.probabilities
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["left_id", "right_id", "label", "distance", "probability"])
        for i, (a, b) in enumerate(zip(left_ids, right_ids, strict=True)):
            p = "" if probabilities is None else f"{probabilities[i]:.6f}"
            writer.writerow([a, b, int(evaluation.same[i]), f"{evaluation.distances[i]:.6f}", p])


def identification_plots(folder: Path, result: dict[str, Any], gallery_path: Path | None) -> list[str]:
    """Top-1 distances of enrolled vs never-enrolled probes, the detection ROC and, given the
    gallery folder, a grid of probes with their nearest gallery images."""
    from simsearch.evaluation import plots

    folder.mkdir(parents=True, exist_ok=True)
    enrolled, top1 = result["enrolled"].astype(np.int8), result["distances"][:, 0]
    written = [
        plots.plot_distance_histogram(
            top1,
            enrolled,
            folder / "identification_distances.png",
            threshold=result["threshold"],
            names=("enrolled probes", "never-enrolled probes"),
            title="Distance of each probe to its nearest gallery item",
        )
    ]
    if 0 < enrolled.sum() < len(enrolled):
        written.append(plots.plot_roc(enrolled, -top1, folder / "identification_roc.png"))
    probes: Items = result["probes"]
    if gallery_path is not None and probes.images is not None:
        written.append(_identification_grid(folder, result, gallery_path))
    return [str(p) for p in written]


def _identification_grid(folder: Path, result: dict[str, Any], gallery_path: Path) -> Path:
    from simsearch.data.loaders import load_items
    from simsearch.evaluation import plots

    probes: Items = result["probes"]
    gallery = load_items(gallery_path, image_size=tuple(probes.images.shape[1:3]), labelled=False)  # type: ignore[union-attr]
    position = {str(i): n for n, i in enumerate(gallery.ids.tolist())}
    rows = _grid_rows(result["enrolled"], seed=0)
    k = min(_GRID_K, result["classes"].shape[1])
    blank = np.ones(gallery.images.shape[1:], np.float32)  # type: ignore[union-attr]
    neighbours = np.stack(
        [
            np.stack([_image(gallery, position, h.id, blank) for h in _pad(result["hits"][r], k)[:k]])
            for r in rows
        ]
    )
    return plots.plot_neighbours(
        probes.images[rows],  # type: ignore[index]
        neighbours,
        result["distances"][rows, :k],
        result["classes"][rows, :k] == result["probe_classes"][rows, None],
        folder / "identification_neighbours.png",
        query_labels=[
            f"{c}{'' if e else ' (not enrolled)'}"
            for c, e in zip(result["probe_classes"][rows], result["enrolled"][rows], strict=True)
        ],
        neighbour_labels=result["classes"][rows, :k].tolist(),
        threshold=result["threshold"],
        title="Probes and their nearest gallery images (green: right identity; faded: rejected)",
    )


def _image(gallery: Items, position: dict[str, int], item_id: Any, blank: np.ndarray) -> np.ndarray:
    n = position.get(str(item_id))
    return blank if n is None else gallery.images[n]  # type: ignore[index]


def _grid_rows(enrolled: np.ndarray, seed: int) -> np.ndarray:
    """Up to half the grid's rows from enrolled probes and the rest from the others."""
    rng = np.random.default_rng(seed)
    known, unknown = np.flatnonzero(enrolled), np.flatnonzero(~enrolled)
    n_unknown = min(len(unknown), _GRID_QUERIES // 2)
    n_known = min(len(known), _GRID_QUERIES - n_unknown)
    picks = [rng.choice(known, n_known, replace=False), rng.choice(unknown, n_unknown, replace=False)]
    return np.concatenate(picks).astype(np.int64)


def neighbours_plot(folder: Path, items: Items, embeddings: np.ndarray, metric: str) -> Path | None:
    """Leave-one-out nearest neighbours of a few random labelled images, as a grid."""
    from simsearch.evaluation import plots
    from simsearch.evaluation.evaluate import pair_distances

    if items.images is None or len(items) < 2:
        return None
    rng = np.random.default_rng(0)
    rows = rng.choice(len(items), min(_GRID_QUERIES, len(items)), replace=False)
    k = min(_GRID_K, len(items) - 1)
    d = pair_distances(embeddings[rows, None, :], embeddings[None, :, :], metric).astype(np.float64)
    d[np.arange(len(rows)), rows] = np.inf  # leave the query itself out
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    names = np.array(items.classes, dtype=object)
    return plots.plot_neighbours(
        items.images[rows],
        items.images[nearest],
        np.take_along_axis(d, nearest, axis=1),
        items.labels[nearest] == items.labels[rows, None],
        folder / "neighbours.png",
        query_labels=names[items.labels[rows]].tolist(),
        neighbour_labels=names[items.labels[nearest]].tolist(),
        title="Nearest neighbours (green: same class, red: another class)",
    )
