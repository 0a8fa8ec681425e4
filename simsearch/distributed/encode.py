"""Encoding a catalogue as a Dask job: one task per partition, the tower loaded once per worker.

Each task reads its partition (`simsearch.distributed.catalog`), encodes it with the tower its
worker keeps (`WorkerCache.model`) in batches of `batch_size`, and keeps the result on the
worker as an `EncodedPart`; the build and match stages take those parts where they lie.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.data.items import Items
from simsearch.distributed.catalog import CatalogSpec, Partition, plan_partitions, read_partition
from simsearch.errors import ConfigError
from simsearch.index.checks import IdArray, check_embeddings, check_ids, check_metadata
from simsearch.tower_kinds import tower_kind

__all__ = [
    "EncodedPart",
    "catalog_spec",
    "encode_catalog",
    "encode_items",
    "encode_partition",
    "total_threads",
    "wait_with_progress",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncodedPart:
    """One partition encoded: `(n,)` ids, `(n, dim) float32` embeddings, `(n,)` metadata as JSON
    text (or None), in catalogue order."""

    ids: IdArray
    embeddings: npt.NDArray[np.float32]
    metadata: npt.NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.ids)


def catalog_spec(
    model_dir: str | os.PathLike[str],
    fields: Sequence[str] | None = None,
    *,
    id_column: str = "id",
    encoding: str = "utf-8",
) -> CatalogSpec:
    """Return what to read from a catalogue for the model in `model_dir` (its `config.json`)."""
    from simsearch.model_config import read_config

    config = read_config(model_dir)
    inputs = config.get("inputs", {})
    if tower_kind(config["kind"]).catalogue == "images":
        size = inputs.get("image_size")
        return CatalogSpec(
            image_size=None if size is None else (int(size[0]), int(size[1])),
            channels=inputs.get("channels"),
        )
    numeric = tuple(inputs.get("numeric_fields", []))
    names = tuple(fields) if fields else (*inputs.get("text_fields", []), *numeric)
    if not names:
        raise ConfigError("Expected content fields in the model's config or --fields. Received: none")
    return CatalogSpec(fields=names, numeric_fields=numeric, id_column=id_column, encoding=encoding)


def encode_partition(partition: Partition, spec: CatalogSpec, model_dir: str, batch_size: int) -> EncodedPart:
    """Read and encode one partition on a worker (a Dask task)."""
    from simsearch.distributed.cluster import worker_cache
    from simsearch.engine import item_metadata

    model = worker_cache().model(model_dir)
    items = read_partition(partition, spec)
    return EncodedPart(
        check_ids(items.ids, len(items), None),
        encode_items(model, items, batch_size),
        _metadata(item_metadata(items)),
    )


def encode_items(model: Any, items: Items, batch_size: int) -> npt.NDArray[np.float32]:
    """Encode `items` with `model` in the chunks `simsearch.engine.encode_batches` uses, unlogged."""
    content = items.content()
    chunk = max(16 * batch_size, 1)
    parts = [
        model.encode(_rows(content, start, start + chunk), batch_size=batch_size)
        for start in range(0, len(items), chunk)
    ]
    vectors = np.concatenate(parts) if parts else np.zeros((0, model.dim), np.float32)
    return check_embeddings(vectors, model.dim, "embeddings")


def encode_catalog(
    client: Any,
    model_dir: str | os.PathLike[str],
    catalog: str | os.PathLike[str],
    *,
    fields: Sequence[str] | None = None,
    partitions: int | None = None,
    batch_size: int = 256,
    id_column: str = "id",
    encoding: str = "utf-8",
) -> list[Any]:
    """Encode `catalog` with the model in `model_dir` on the cluster; one future per partition.

    Args:
        client: a `distributed.Client` from `connect`.
        partitions: how many partitions to read; default four per worker thread.
        batch_size: items per tower call.
        id_column, encoding: a table's id column and text encoding.

    Returns:
        Futures of `EncodedPart`, in catalogue order, kept on the workers.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"Expected batch_size >= 1. Received: batch_size={batch_size!r}")
    spec = catalog_spec(model_dir, fields, id_column=id_column, encoding=encoding)
    plan = plan_partitions(catalog, partitions or 4 * total_threads(client), encoding)
    model_path = str(Path(model_dir).resolve())
    # `submit` per partition: `Client.map` would take `batch_size` as its own argument.
    futures = [
        client.submit(encode_partition, partition, spec, model_path, batch_size, pure=False)
        for partition in plan
    ]
    wait_with_progress(futures, "encoding", unit="partition")
    return list(futures)


def wait_with_progress(futures: Sequence[Any], what: str, unit: str = "task") -> None:
    """Wait for `futures` with a progress bar, logging the stage's wall time; raises a task's error."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    start = time.perf_counter()
    with tqdm(total=len(futures), desc=what, unit=unit, disable=len(futures) < 2) as bar:
        for future in as_completed(futures):
            if future.status == "error":
                future.result()  # raises the task's exception here
            bar.update(1)
    logger.info("%s: %d %ss in %.1fs", what, len(futures), unit, time.perf_counter() - start)


def total_threads(client: Any) -> int:
    """Worker threads of the cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


def _metadata(rows: list[dict[str, Any]]) -> npt.NDArray[np.object_]:
    out = check_metadata(rows, len(rows))
    return out if out is not None else np.full(len(rows), None, object)


def _rows(content: Any, start: int, stop: int) -> Any:
    if isinstance(content, dict):
        return {name: column[start:stop] for name, column in content.items()}
    return content[start:stop]
