"""Wrap image arrays, in memory or in an `.npz`, as `Items`; turn labels into class indices.

Only numpy and the standard library.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.errors import DataError

__all__ = ["UNLABELLED", "check_unique_ids", "encode_labels", "load_arrays", "load_npz"]

UNLABELLED = ("", "-1")  # str labels that mean "no class"
_FEW = 5  # how many offending values an error message names


def load_arrays(
    images: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    ids: npt.ArrayLike | None = None,
    groups: npt.ArrayLike | None = None,
    classes: Sequence[str] | None = None,
) -> Items:
    """Wrap image arrays held in memory as `Items`.

    Args:
        images: `(n, h, w)` or `(n, h, w, c)`; uint8 is scaled by 1/255, bool and float are taken
            as values in [0, 1].
        labels: `(n,)` int or str. Without `classes`, ints are renumbered 0.. in sorted order and
            strs map to the sorted class names (numeric names sort as numbers); -1, '' and '-1'
            mean unlabelled. With `classes`, ints index into it and strs must be among it.
        ids: `(n,)` unique ids; row numbers (int64) when None.
        groups: `(n,)` group of each item (an Omniglot alphabet), or None.
        classes: class names, or None to derive them from `labels`.

    Example:
        >>> items = load_arrays(x_train, y_train)
    """
    pixels = _as_images(images)
    codes, names = encode_labels(labels, classes=classes)
    return Items(
        ids=_as_ids(ids, len(pixels)),
        labels=codes,
        classes=names,
        images=pixels,
        groups=None if groups is None else _as_column("groups", groups).astype(str),
    )


def load_npz(path: str | Path) -> Items:
    """Load images from an `.npz` file (never unpickling).

    Two layouts are read:

    - flat: `images` `(n, h, w[, c])` and `labels` `(n,)`, with optional `ids`, `groups`, `classes`;
    - class-major: `images` `(C, S, h, w[, c])`, S drawings of each of C classes, with optional
      per-class names `classes` or `character` and groups `groups` or `alphabet`. When `character`
      comes with a group, the class name is "group/character" (Omniglot: "Greek/character01");
      ids are "class/sample".

    uint8 images whose values are all 0 or 1 (Omniglot's 1 = white background) are kept as 0/1;
    other uint8 images are scaled by 1/255.
    """
    path = Path(path)
    arrays = _read_npz(path)
    if "images" not in arrays:
        raise DataError(f"Expected an 'images' array in '{path}'. Received: keys={sorted(arrays)}")
    images = arrays["images"]
    if images.dtype == np.uint8 and images.size and images.max() <= 1:
        images = images.astype(np.float32)
    if "labels" in arrays:
        return load_arrays(
            images,
            arrays["labels"],
            ids=arrays.get("ids"),
            groups=arrays.get("groups"),
            classes=None if "classes" not in arrays else arrays["classes"].astype(str).tolist(),
        )
    return _load_class_major(images, arrays, path)


def encode_labels(
    labels: npt.ArrayLike, *, classes: Sequence[str] | None = None
) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """Turn int or str labels into class indices and class names (see `load_arrays`)."""
    values = _as_column("labels", labels)
    if np.issubdtype(values.dtype, np.integer):
        return _encode_ints(values.astype(np.int64), classes)
    if values.dtype.kind in "USO":
        return _encode_names(values.astype(str), classes)
    raise DataError(f"Expected int or str labels. Received: labels.dtype={values.dtype}")


def _encode_ints(
    values: npt.NDArray[np.int64], classes: Sequence[str] | None
) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    if np.any(values < -1):
        raise DataError(f"Expected labels >= -1 (-1 = unlabelled). Received: min={values.min()}")
    if classes is None:
        present = np.unique(values[values >= 0])
        codes = np.where(values >= 0, np.searchsorted(present, values), -1)
        return codes.astype(np.int64), tuple(str(value) for value in present)
    names = _class_tuple(classes)
    if values.size and values.max() >= len(names):
        raise DataError(
            f"Expected labels < len(classes)={len(names)}. Received: max label={values.max()}"
        )
    return values, names


def _encode_names(
    values: npt.NDArray[np.str_], classes: Sequence[str] | None
) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    unlabelled = np.isin(values, UNLABELLED)
    present = np.unique(values[~unlabelled])
    names = _class_tuple(classes) if classes is not None else _sorted_names(present)
    index = {name: code for code, name in enumerate(names)}
    unknown = [name for name in present.tolist() if name not in index]
    if unknown:
        raise DataError(
            f"Expected labels among the {len(names)} classes given. "
            f"Received: {len(unknown)} unknown, e.g. {unknown[:_FEW]}"
        )
    codes = np.array([index.get(name, -1) for name in values.tolist()], dtype=np.int64)
    codes[unlabelled] = -1
    return codes, names


def _sorted_names(names: npt.NDArray[np.str_]) -> tuple[str, ...]:
    try:
        return tuple(sorted(names.tolist(), key=int))
    except ValueError:
        return tuple(names.tolist())  # np.unique already sorted them as strings


def _class_tuple(classes: Sequence[str]) -> tuple[str, ...]:
    names = tuple(str(name) for name in classes)
    if len(set(names)) != len(names):
        raise DataError(f"Expected unique class names. Received: {len(names)} names, some repeated")
    return names


def _as_images(images: npt.ArrayLike) -> npt.NDArray[np.float32]:
    pixels = np.asarray(images)
    if pixels.ndim == 3:
        pixels = pixels[..., np.newaxis]
    if pixels.ndim != 4 or len(pixels) == 0:
        raise DataError(
            "Expected images of shape (n, h, w) or (n, h, w, c) with n >= 1. "
            f"Received: images.shape={np.shape(images)}"
        )
    if pixels.dtype == np.uint8:
        scaled = pixels.astype(np.float32)
        scaled /= 255.0
        return scaled
    if pixels.dtype != np.bool_ and not np.issubdtype(pixels.dtype, np.floating):
        raise DataError(
            f"Expected uint8, bool or float images. Received: images.dtype={pixels.dtype}"
        )
    scaled = pixels.astype(np.float32, copy=False)
    low, high = float(scaled.min()), float(scaled.max())
    if not 0.0 <= low <= high <= 1.0:
        raise DataError(f"Expected float images in [0, 1]. Received: min={low}, max={high}")
    return scaled


def _as_ids(ids: npt.ArrayLike | None, n: int) -> npt.NDArray[np.generic]:
    if ids is None:
        return np.arange(n, dtype=np.int64)
    values = _as_column("ids", ids)
    integer = np.issubdtype(values.dtype, np.integer)
    values = values.astype(np.int64) if integer else values.astype(str)
    check_unique_ids(values, "ids")
    return values


def _as_column(name: str, values: npt.ArrayLike) -> npt.NDArray[np.generic]:
    column = np.asarray(values)
    if column.ndim != 1:
        raise DataError(f"Expected {name} of shape (n,). Received: {name}.shape={column.shape}")
    return column


def check_unique_ids(ids: npt.NDArray[np.generic], source: str | Path) -> None:
    """Raise `DataError` naming a few repeated ids, if any."""
    unique, counts = np.unique(ids, return_counts=True)
    if len(unique) != len(ids):
        repeated = unique[counts > 1].tolist()
        raise DataError(
            f"Expected unique ids in '{source}'. "
            f"Received: {len(repeated)} repeated, e.g. {repeated[:_FEW]}"
        )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"Expected an .npz file. Received: path='{path}' (missing)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, AttributeError, zipfile.BadZipFile) as exc:
        # AttributeError: np.load returns a bare array (no context manager) for an .npy file.
        raise DataError(
            f"Expected a readable .npz without pickles. Received: '{path}' ({exc})"
        ) from exc


def _load_class_major(images: np.ndarray, arrays: dict[str, np.ndarray], path: Path) -> Items:
    if images.ndim not in (4, 5):
        raise DataError(
            "Expected 'labels', or class-major 'images' of shape (C, S, h, w[, c]). "
            f"Received: keys={sorted(arrays)}, images.shape={images.shape} in '{path}'"
        )
    n_classes, n_samples = images.shape[:2]
    group = _per_class(arrays, ("groups", "alphabet"), n_classes, path)
    names = _per_class(arrays, ("classes",), n_classes, path)
    if names is None:
        names = _per_class(arrays, ("character",), n_classes, path)
        if names is not None and group is not None:
            names = np.char.add(np.char.add(group, "/"), names)
    if names is None:
        names = np.arange(n_classes).astype(str)
    width = len(str(n_samples - 1))
    ids = [f"{name}/{sample:0{width}d}" for name in names.tolist() for sample in range(n_samples)]
    return load_arrays(
        images.reshape(n_classes * n_samples, *images.shape[2:]),
        np.repeat(np.arange(n_classes), n_samples),
        ids=ids,
        groups=None if group is None else np.repeat(group, n_samples),
        classes=names.tolist(),
    )


def _per_class(
    arrays: dict[str, np.ndarray], keys: tuple[str, ...], n_classes: int, path: Path
) -> npt.NDArray[np.str_] | None:
    for key in keys:
        if key in arrays:
            values = arrays[key].astype(str)
            if values.shape != (n_classes,):
                raise DataError(
                    f"Expected '{key}' of shape ({n_classes},), one per class, in '{path}'. "
                    f"Received: {key}.shape={values.shape}"
                )
            return values
    return None
