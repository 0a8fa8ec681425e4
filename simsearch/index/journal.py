"""`Journal`: a write-ahead log of index updates, `journal.wal` in an index directory.

An update acknowledged to a caller must survive a crash, but rewriting the whole directory with
`save_index` per update is too slow at 100k items. So each update is appended here and synced
before it is acknowledged; `load_index` replays the journal over the saved index. A checkpoint is
a plain `save_index` of the updated index: the new directory starts without a journal, so the
atomic swap of directories is also the truncation of the journal, with no window in which an
update is in both or in neither.

Record layout (little-endian):

    magic   b"SSJ1"                         4 bytes
    length  u32                             bytes of the body
    crc32   u32                             zlib.crc32 of the body
    body    u32 header length | JSON header | (n, dim) float32 embeddings

JSON header: `{"op": "add" | "upsert" | "delete", "ids": [...], "metadata": [...] | null,
"n": n, "dim": dim}`; embeddings are stored as given (before normalisation). numpy and JSON only,
never pickle.

A record cut short by a crash (necessarily the last, never acknowledged) is dropped when the
journal is read and cut off when it is opened for appending; a damaged record followed by
others is corruption: `IndexFileError`. One process at a time appends: `Journal.open` holds an
exclusive `flock` on the file until `close`, and `save_index` refuses a directory whose journal
another process holds.

Example:
>>> journal = Journal.open("indexes/catalogue")
>>> index.add(xb, ids)                      # validated and applied in memory first
>>> journal.append([JournalRecord("add", ids, xb)])   # synced: now it can be acknowledged
>>> journal.close(); save_index("indexes/catalogue", index)   # checkpoint
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import DataError, IndexFileError
from simsearch.index.faiss_index import FaissIndex
from simsearch.index.h5_store import fsync_path
from simsearch.index.lock import try_lock

__all__ = ["JOURNAL", "OPS", "Journal", "JournalRecord", "apply_record", "check_no_writer", "read_journal"]

logger = logging.getLogger(__name__)

JOURNAL = "journal.wal"
OPS = ("add", "upsert", "delete")
_MAGIC = b"SSJ1"
_FRAME = struct.Struct("<4sII")
_U32 = struct.Struct("<I")


@dataclass(frozen=True)
class JournalRecord:
    """One update: `op` on catalogue `ids`, with `(n, dim) float32` embeddings for add/upsert.

    `metadata=None` on an upsert keeps the metadata of replaced items, as `FaissIndex.upsert`.
    """

    op: str
    ids: Sequence[Any]
    embeddings: npt.NDArray[np.float32] | None = None
    metadata: Sequence[Any] | None = None

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise DataError(f"Expected a journal op in {OPS}. Received: op={self.op!r}")
        if (self.op == "delete") != (self.embeddings is None):
            raise DataError(
                f"Expected embeddings for add and upsert only. Received: op={self.op!r} with "
                f"embeddings={'none' if self.embeddings is None else self.embeddings.shape}"
            )

    @functools.cached_property
    def frame(self) -> bytes:
        """The framed record: magic, body length, crc32, body (computed once).

        Raises:
            DataError: ids or metadata that JSON cannot hold (NaN included).
        """
        xb = np.zeros((0, 0), "<f4") if self.embeddings is None else np.asarray(self.embeddings, "<f4")
        header = {
            "op": self.op,
            "ids": [_plain(v) for v in self.ids],
            "metadata": None if self.metadata is None else list(self.metadata),
            "n": int(xb.shape[0]),
            "dim": int(xb.shape[1]) if xb.ndim == 2 else 0,
        }
        try:
            text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise DataError(f"Expected JSON-serialisable ids and metadata. Received: {exc}") from exc
        body = _U32.pack(len(text)) + text + np.ascontiguousarray(xb).tobytes()
        return _FRAME.pack(_MAGIC, len(body), zlib.crc32(body)) + body

    @classmethod
    def from_body(cls, body: bytes) -> JournalRecord:
        """Parse a record body (checked against its crc32 already)."""
        (size,) = _U32.unpack_from(body)
        header = json.loads(body[4 : 4 + size])
        n, dim = int(header["n"]), int(header["dim"])
        xb = None
        if header["op"] != "delete":
            xb = np.frombuffer(body, "<f4", n * dim, 4 + size).reshape(n, dim).astype(np.float32)
        return cls(header["op"], header["ids"], xb, header["metadata"])


def read_journal(path: str | os.PathLike[str]) -> tuple[list[JournalRecord], int]:
    """Return the complete records of a journal file and the byte length they span.

    A missing file is an empty journal. Bytes after the last complete record are a record cut
    short by a crash and are left out.

    Raises:
        IndexFileError: a damaged record followed by more data.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    records, offset = [], 0
    while offset < len(data):
        body = _next_body(data, offset, path)
        if body is None:
            logger.warning(
                "Dropping %d bytes at the end of %s (an unacknowledged write cut short)",
                len(data) - offset,
                path,
            )
            break
        try:
            records.append(JournalRecord.from_body(body))
        except (ValueError, KeyError, TypeError, struct.error) as exc:
            raise IndexFileError(
                f"Expected a valid record at byte {offset} of '{path}'. Received: {exc}"
            ) from exc
        offset += _FRAME.size + len(body)
    return records, offset


def apply_record(index: FaissIndex, record: JournalRecord) -> None:
    """Apply one update to `index`, as the call that journaled it did."""
    if record.op == "delete":
        index.delete(record.ids)
    elif record.op == "add":
        index.add(record.embeddings, record.ids, record.metadata)  # type: ignore[arg-type]
    else:
        index.upsert(record.embeddings, record.ids, record.metadata)  # type: ignore[arg-type]


def check_no_writer(directory: str | os.PathLike[str]) -> None:
    """Raise `IndexFileError` when another process holds the journal of `directory` open."""
    path = Path(directory) / JOURNAL
    if not path.is_file():
        return
    with open(path, "rb") as f:
        if not try_lock(f.fileno()):
            raise IndexFileError(
                f"Expected no other writer of '{directory}'. Received: its journal is held by another "
                "process (a server?); update the index through it"
            )
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class Journal:
    """The journal of one index directory, open for appending.

    Args:
        path: the journal file (`<directory>/journal.wal`); use `Journal.open`.
        fd: its file descriptor, opened for appending and locked.
        records: complete records already in the file.
        size: bytes those records span.
    """

    def __init__(self, path: Path, fd: int, records: int, size: int) -> None:
        self.path = path
        self.records = records
        self.size = size
        self._fd: int | None = fd

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> Journal:
        """Open (or create) the journal of an index directory for appending.

        Cuts off a record a crash left incomplete and locks the file against other processes.

        Raises:
            IndexFileError: the directory is missing, or another process holds its journal.
        """
        root = Path(directory)
        if not root.is_dir():
            raise IndexFileError(f"Expected an index directory. Received: '{root}' (not a directory)")
        path = root / JOURNAL
        created = not path.exists()
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if not try_lock(fd):
            os.close(fd)
            raise IndexFileError(
                f"Expected one writer of '{root}'. Received: its journal is held by another process"
            )
        try:
            records, size = read_journal(path)
            if os.fstat(fd).st_size > size:
                os.ftruncate(fd, size)
                os.fsync(fd)
            if created:
                fsync_path(root)  # the new file's name must survive a crash too
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, len(records), size)

    def append(self, records: Sequence[JournalRecord]) -> None:
        """Append `records` and sync them to disk: once this returns they survive a crash.

        Several records share one sync (group commit). On an `OSError` the file is cut back to
        its previous length where possible; the journal is closed when even that fails.
        """
        fd = self._open_fd()
        data = b"".join(record.frame for record in records)
        try:
            _write_all(fd, data)
            os.fdatasync(fd)
        except OSError:
            self._undo(fd)
            raise
        self.records += len(records)
        self.size += len(data)

    def close(self) -> None:
        """Release the lock and close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal('{self.path}', records={self.records}, bytes={self.size})"

    def _open_fd(self) -> int:
        if self._fd is None:
            raise IndexFileError(f"Expected an open journal. Received: '{self.path}' is closed")
        return self._fd

    def _undo(self, fd: int) -> None:
        try:
            os.ftruncate(fd, self.size)
            os.fsync(fd)
        except OSError:
            logger.exception("Could not cut %s back after a failed append; closing it", self.path)
            self.close()


def _next_body(data: bytes, offset: int, path: str | os.PathLike[str]) -> bytes | None:
    """The body of the record at `offset`, or None for a record cut short at the end of `data`."""
    if len(data) - offset < _FRAME.size:
        return None
    magic, length, crc = _FRAME.unpack_from(data, offset)
    if magic != _MAGIC:
        raise IndexFileError(f"Expected a journal record at byte {offset} of '{path}'. Received: {magic!r}")
    start, end = offset + _FRAME.size, offset + _FRAME.size + length
    if end <= len(data) and zlib.crc32(data[start:end]) == crc:
        return data[start:end]
    if end >= len(data):
        return None  # the last record, cut short (its sync never returned: never acknowledged)
    raise IndexFileError(
        f"Expected journal records matching their crc32 in '{path}'. Received: a damaged record at "
        f"byte {offset} followed by {len(data) - end} more bytes"
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
