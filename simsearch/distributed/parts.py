"""Partitioned Parquet output: a directory of part files, committed whole.

    pairs.parquet/                 (the --out path; its name must end in .parquet)
        part-00000.parquet         left_id, right_id, distance (float32), score (float32 or null)
        part-00001.parquet         ...

Part `p` of a dedup holds the pairs whose left item lies in the `p`-th range of catalogue
positions, sorted by left then right position; part `p` of a match holds the matches of the
`p`-th partition of catalogue B, by B's row then distance. Read in name order the parts are the
local engine's single file, row for row: `read_pairs("pairs.parquet")` (pyarrow reads a directory
as one table, files in name order), `pandas.read_parquet`, Spark and DuckDB read them as they are.
Groups (`id`, `group` int64) are written the same way, in catalogue order.

Parts are written into a hidden staging directory beside the target, which replaces the target
only once every part is complete: a job that fails or is stopped leaves the previous output.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.dedup.pairs import DuplicatePairs
from simsearch.errors import ConfigError, OutputFileError

__all__ = [
    "check_output_dir",
    "commit_dir",
    "part_path",
    "staging_dir",
    "write_groups_parts",
    "write_pairs_part",
]

_PART = "part-{:05d}.parquet"


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """Return `path` if a partitioned Parquet output can be written there, else raise.

    Raises:
        ConfigError: a name not ending in `.parquet`.
        OutputFileError: a missing or read-only parent folder, or a path that is a file or a
            folder holding anything but part files.
    """
    path = Path(path)
    if path.suffix.lower() != ".parquet":
        raise ConfigError(
            "Expected an output path ending in .parquet (a directory of part files) with --engine dask. "
            f"Received: '{path}'"
        )
    folder = path.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        why = "does not exist" if not folder.is_dir() else "is not writable"
        raise OutputFileError(
            f"Expected an output path in a writable folder. Received: '{path}' ('{folder}' {why})"
        )
    if path.is_file() or (path.is_dir() and any(not _is_part(p) for p in path.iterdir())):
        why = "a file" if path.is_file() else "a folder holding other files"
        raise OutputFileError(
            f"Expected a new path or an earlier partitioned output. Received: '{path}' ({why})"
        )
    return path


def staging_dir(path: Path) -> Path:
    """Create the hidden directory beside `path` that the parts are written into."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.mkdir()
    return tmp


def commit_dir(tmp: Path, path: Path) -> Path:
    """Replace `path` (an earlier output, if any) by the complete staging directory `tmp`."""
    old = path.with_name(f".{path.name}.{secrets.token_hex(4)}.old")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def part_path(folder: str | os.PathLike[str], number: int) -> str:
    return str(Path(folder) / _PART.format(number))


def write_pairs_part(pairs: DuplicatePairs, path: str | os.PathLike[str], id_type: str) -> None:
    """Write one part file of pairs with a fixed schema (an empty part has the same columns)."""
    pa, pq = _pyarrow()
    ids = pa.string() if id_type == "str" else pa.int64()
    scores = None if pairs.scores is None else pairs.scores
    table = pa.table(
        {
            "left_id": pa.array(pairs.left_ids.tolist(), type=ids),
            "right_id": pa.array(pairs.right_ids.tolist(), type=ids),
            "distance": pa.array(pairs.distances, type=pa.float32()),
            "score": pa.array(scores if scores is not None else [None] * len(pairs), type=pa.float32()),
        }
    )
    pq.write_table(table, str(path))


def write_groups_parts(
    ids: npt.NDArray[Any], groups: npt.NDArray[np.int64], folder: Path, partitions: int
) -> None:
    """Write `(id, group)` rows, in order, as `partitions` part files of `folder`."""
    pa, pq = _pyarrow()
    id_type = pa.int64() if ids.dtype.kind == "i" else pa.string()
    cuts = np.linspace(0, len(ids), max(1, partitions) + 1).round().astype(int)
    for number, (a, b) in enumerate(itertools.pairwise(cuts)):
        table = pa.table(
            {
                "id": pa.array(ids[a:b].tolist(), type=id_type),
                "group": pa.array(groups[a:b].astype(np.int64), type=pa.int64()),
            }
        )
        pq.write_table(table, part_path(folder, number))


def id_type_of(ids: Sequence[Any] | npt.NDArray[Any]) -> str:
    return "int" if np.asarray(ids).dtype.kind in "iu" else "str"


def _is_part(path: Path) -> bool:
    return path.is_file() and path.name.startswith("part-") and path.suffix == ".parquet"


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ConfigError(
            'Expected pyarrow for partitioned Parquet: pip install "simsearch[dask]". '
            "Received: no module named pyarrow"
        ) from exc
    return pa, pq
