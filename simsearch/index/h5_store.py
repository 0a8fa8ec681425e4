"""`H5Store`: the items of an index in HDF5 (`items.h5`).

    items.h5
        embeddings  (n, dim) float32   the embeddings as given (before any normalisation)
        ids         (n,) int64, or UTF-8 strings: the catalogue ids, in their own type
        metadata    (n,) UTF-8 strings: JSON text per item ("null" for none); never pickle
        keys        (n,) int64         the FAISS label of each item in the `index.faiss` beside it
        attributes  format_version, dim, metric, count, id_type ("int64" or "str")

Writes go to a temporary file in the same folder, renamed into place once complete and synced.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt

from simsearch.errors import IndexFileError

__all__ = ["FORMAT_VERSION", "H5Store", "StoredItems"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_DATASETS = ("embeddings", "ids", "metadata", "keys")


@dataclass(frozen=True)
class StoredItems:
    """Items as stored: row `i` is one item.

    Args:
        embeddings: `(n, dim) float32`.
        ids: `(n,) int64`, or `(n,) object` holding str.
        metadata: `(n,) object` holding JSON text or `None`.
        keys: `(n,) int64` FAISS labels in the index saved beside the store.
        metric: `"cosine"` or `"l2"`.
    """

    embeddings: npt.NDArray[np.float32]
    ids: npt.NDArray[Any]
    metadata: npt.NDArray[np.object_]
    keys: npt.NDArray[np.int64]
    metric: str

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def id_type(self) -> str:
        return "int64" if self.ids.dtype.kind == "i" else "str"

    def __len__(self) -> int:
        return len(self.ids)


class H5Store:
    """Read and write `items.h5`.

    Example:
    >>> H5Store("indexes/catalogue/items.h5").read().ids[:3]
    array(['sku-1', 'sku-2', 'sku-3'], dtype=object)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def write(self, items: StoredItems) -> Path:
        """Write `items` to a temporary file, sync it and rename it over `path`."""
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            with h5py.File(tmp, "w") as f:
                _write(f, items)
            fsync_path(tmp)
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        logger.debug("Wrote %d items to %s", len(items), self.path)
        return self.path

    def attrs(self) -> dict[str, Any]:
        """Return the file's attributes (`format_version`, `dim`, `metric`, `count`, `id_type`)."""
        with self._open() as f:
            return {key: _plain(value) for key, value in f.attrs.items()}

    def read(self) -> StoredItems:
        """Read and check the items; `IndexFileError` on a missing, foreign or inconsistent file."""
        with self._open() as f:
            attrs = {key: _plain(value) for key, value in f.attrs.items()}
            self._check(f, attrs)
            try:
                return _read(f, attrs)
            except (OSError, TypeError, ValueError) as exc:
                raise IndexFileError(f"Expected readable items in '{self.path}'. Received: {exc}") from exc

    def _open(self) -> h5py.File:
        if not self.path.is_file():
            raise IndexFileError(f"Expected an items file. Received: '{self.path}' does not exist")
        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise IndexFileError(f"Expected an HDF5 items file. Received: '{self.path}' ({exc})") from exc

    def _check(self, f: h5py.File, attrs: dict[str, Any]) -> None:
        missing = [key for key in ("format_version", "dim", "metric", "count", "id_type")
                   if key not in attrs] + [name for name in _DATASETS if name not in f]
        if missing:
            raise IndexFileError(f"Expected a simsearch items file. Received: '{self.path}' lacks {missing}")
        if attrs["format_version"] != FORMAT_VERSION:
            raise IndexFileError(
                f"Expected items format_version {FORMAT_VERSION}. Received: "
                f"format_version={attrs['format_version']!r} in '{self.path}'"
            )
        n, dim = int(attrs["count"]), int(attrs["dim"])
        shapes = {name: f[name].shape for name in _DATASETS}
        want = {"embeddings": (n, dim), "ids": (n,), "metadata": (n,), "keys": (n,)}
        if shapes != want:
            raise IndexFileError(
                f"Expected datasets of shapes {want} (count={n}, dim={dim}). Received: {shapes} "
                f"in '{self.path}'"
            )


def _write(f: h5py.File, items: StoredItems) -> None:
    text = h5py.string_dtype("utf-8")
    f.create_dataset("embeddings", data=np.asarray(items.embeddings, np.float32).reshape(-1, items.dim))
    if items.id_type == "int64":
        f.create_dataset("ids", data=np.asarray(items.ids, np.int64))
    else:
        f.create_dataset("ids", data=np.asarray(items.ids, object), dtype=text)
    meta = np.array(["null" if m is None else m for m in items.metadata], dtype=object)
    f.create_dataset("metadata", data=meta, shape=(len(items),), dtype=text)
    f.create_dataset("keys", data=np.asarray(items.keys, np.int64))
    f.attrs.update(
        format_version=FORMAT_VERSION,
        dim=items.dim,
        metric=items.metric,
        count=len(items),
        id_type=items.id_type,
    )


def _read(f: h5py.File, attrs: dict[str, Any]) -> StoredItems:
    as_int = attrs["id_type"] == "int64"
    ids = f["ids"][...] if as_int else f["ids"].asstr()[...]
    meta = f["metadata"].asstr()[...].astype(object)
    meta[meta == "null"] = None
    return StoredItems(
        embeddings=np.ascontiguousarray(f["embeddings"][...], np.float32),
        ids=ids.astype(np.int64 if as_int else object),
        metadata=meta,
        keys=f["keys"][...].astype(np.int64),
        metric=str(attrs["metric"]),
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file or folder to disk, so a rename after it never exposes unwritten data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
