"""Index directories, saved atomically and checked on load.

    indexes/<name>/
        index.faiss     the FAISS index (`faiss.write_index`), tombstones included
        items.h5        the live items: embeddings, catalogue ids, JSON metadata, FAISS keys
        manifest.json   format_version, simsearch_version, dim, metric, factory, kind, config
                        (build settings), search_params (the default nprobe / ef_search),
                        tuning (how `--target-recall` chose them: the recall measured, the
                        memory, the kinds tried; null otherwise), count, ntotal, id_type,
                        created, updated, files (bytes and sha256 of the two others), extra
                        (the caller's: model path and hash, calibrated threshold, ...)

Other files in the directory (the model's `.keras` files, plots, ...) are carried over to each new
version as hard links: a save never loses them. The exception is `journal.wal`, the updates
acknowledged since the last save (see `simsearch.index.journal`): `load_index` replays it, so a
saved index holds them all and the new directory starts without one. A save refuses a directory
whose journal another process (a server) holds open.

Atomicity: a save writes a complete new directory `.<name>.tmp-*` beside the target (every file
synced), then commits it with two renames: `<name>` -> `.<name>.old`, `.tmp-*` -> `<name>`, and
removes the old one. A save that fails rolls back; one killed at any point leaves either the
previous directory or the new one complete: killed between the two renames, only `.<name>.old`
exists, and `load_index` reads it (warning once); `recover_index` puts it back, as the next save
does first. Writers of one directory are serialised by its `WriterLock` (`.<name>.lock`, see
`simsearch.index.lock`): a save takes it unless this process holds it already (a CLI write holds
it from load to save), and under it clears what a killed save left.

Loading compares the manifest with the files (format version, dim, metric, counts, sizes and
sha256) and raises `IndexFileError` on any mismatch, missing or corrupted file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss

import simsearch
from simsearch.errors import BusyError, ConfigError, DataError, IndexFileError
from simsearch.index.config import IndexConfig, SearchParams
from simsearch.index.faiss_index import FaissIndex
from simsearch.index.h5_store import FORMAT_VERSION, H5Store, StoredItems, fsync_path
from simsearch.index.journal import JOURNAL, apply_record, check_no_writer, read_journal
from simsearch.index.lock import writer_lock

__all__ = ["FILES", "load_index", "read_manifest", "recover_index", "save_index"]

logger = logging.getLogger(__name__)

FILES = ("index.faiss", "items.h5", "manifest.json")
_REQUIRED = ("dim", "metric", "factory", "config", "count", "ntotal", "id_type", "files")
_WARNED: set[Path] = set()  # the backups read in place of their directory, warned about once
# One save of a directory at a time in this process too: the writer lock is taken again at no
# cost by any thread of the process that holds it.
_SAVING: dict[Path, threading.Lock] = {}
_SAVING_MUTEX = threading.Lock()


def save_index(
    directory: str | os.PathLike[str],
    index: FaissIndex,
    manifest_extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write `index` to `directory` atomically; a failed or killed save keeps the previous one.

    Args:
        directory: the index directory, e.g. `indexes/catalogue`.
        index: a built `FaissIndex`.
        manifest_extra: JSON-serialisable entries stored under `"extra"` in the manifest (model
            path and hash, calibrated threshold, ...). `None` keeps those of the directory being
            replaced, so load -> update -> save carries them over; `{}` clears them.

    Example:
    >>> save_index("indexes/catalogue", index, {"model": "models/omniglot", "threshold": 0.31})
    """
    target = Path(directory)
    items = index._to_items()
    if target.exists() and not target.is_dir():
        raise IndexFileError(f"Expected an index directory. Received: '{target}' (not a directory)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _saving(target), writer_lock(target):
        _recover(target)
        check_no_writer(target)
        previous = _previous_manifest(target)
        extra = dict(previous.get("extra", {}) if manifest_extra is None else manifest_extra)
        _check_json(extra)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            _write_faiss(index.index_, tmp / "index.faiss")
            H5Store(tmp / "items.h5").write(items)
            manifest = _manifest(index, items, tmp, extra, previous.get("created"))
            _write_json(manifest, tmp / "manifest.json")
            _carry_over(target, tmp)
            fsync_path(tmp)
            _swap(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    logger.info("Saved %d items (%s) to %s", len(items), index.factory_, target)
    return target


def load_index(directory: str | os.PathLike[str], *, verify: bool = True) -> FaissIndex:
    """Load an index directory written by `save_index`, with the updates its journal holds.

    Args:
        directory: the index directory.
        verify: check the sha256 of `index.faiss` and `items.h5` against the manifest (reads
            both files once more; ~1 s per GB).

    Raises:
        IndexFileError: a missing, corrupted or inconsistent directory, or another format version.
    """
    root = _committed(Path(directory))
    manifest = read_manifest(root)
    _check_files(root, manifest, verify)
    items = H5Store(root / "items.h5").read()
    _check_items(root, items, manifest)
    index = _read_faiss(root / "index.faiss")
    _check_faiss(root, index, items, manifest)
    try:
        config = IndexConfig(**manifest["config"])
    except (TypeError, ConfigError) as exc:
        raise IndexFileError(f"Expected valid build settings in '{root}'. Received: {exc}") from exc
    restored = FaissIndex._restore(config, manifest["factory"], index, items)
    restored.search_defaults, restored.tuning = _search_defaults(root, manifest)
    _replay(root, restored)
    logger.info("Loaded %d items (%s) from %s", len(restored), manifest["factory"], root)
    return restored


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check `manifest.json` of an index directory (the caller's entries are in "extra")."""
    root = _committed(Path(directory))
    path = root / "manifest.json"
    if not path.is_file():
        raise IndexFileError(f"Expected {list(FILES)} in '{root}'. Missing: ['manifest.json']")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexFileError(f"Expected JSON in '{path}'. Received: {exc}") from exc
    if not isinstance(manifest, dict):
        raise IndexFileError(f"Expected a JSON object in '{path}'. Received: {type(manifest).__name__}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise IndexFileError(
            f"Expected an index directory of format_version {FORMAT_VERSION}. Received: "
            f"format_version={version!r} (written by simsearch "
            f"{manifest.get('simsearch_version', '?')}) in '{root}'. Rebuild it with this version."
        )
    missing = [key for key in _REQUIRED if key not in manifest]
    if missing:
        raise IndexFileError(f"Expected keys {list(_REQUIRED)} in '{path}'. Missing: {missing}")
    return manifest


def recover_index(directory: str | os.PathLike[str]) -> bool:
    """Put back an index directory that a save killed between its two renames left as
    `.<name>.old` (logging a warning), under the writer lock; returns whether the index can be
    read (the directory, or its `.old`).

    The lock is not waited for: while another process holds it, it may be that very save between
    its renames, so `.old` is left to it, and `load_index` reads `.old` meanwhile.
    """
    target = Path(directory)
    if target.exists() or not _interrupted(target):
        return target.exists()
    try:
        with writer_lock(target, wait=False):  # this process's own lock is taken again
            _recover(target)
    except (BusyError, OSError) as exc:  # a writer at work, or a folder this process cannot write
        logger.debug("Not restoring %s now: %s", target, exc)
    return True


# ---- writing --------------------------------------------------------------------------------


def _write_faiss(index: Any, path: Path) -> None:
    faiss.write_index(index, str(path))
    fsync_path(path)


def _write_json(obj: Mapping[str, Any], path: Path) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())


def _manifest(
    index: FaissIndex, items: StoredItems, tmp: Path, extra: dict[str, Any], created: str | None
) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "format_version": FORMAT_VERSION,
        "simsearch_version": simsearch.__version__,
        "dim": index.dim,
        "metric": index.metric,
        "factory": index.factory_,
        "kind": index.kind,
        "config": asdict(index.config),
        "search_params": asdict(index.search_defaults),
        "tuning": index.tuning,
        "count": len(items),
        "ntotal": int(index.index_.ntotal),
        "id_type": items.id_type,
        "created": created or now,
        "updated": now,
        "files": {name: _describe(tmp / name) for name in ("index.faiss", "items.h5")},
        "extra": extra,
    }


def _carry_over(target: Path, tmp: Path) -> None:
    """Hard-link into `tmp` what else `target` holds (the model's .keras files, plots, ...)."""
    if not target.is_dir():
        return
    for entry in target.iterdir():
        if entry.name in FILES or entry.name == JOURNAL:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, tmp / entry.name, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, tmp / entry.name)


def _link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    try:
        os.link(src, dst)
    except OSError:  # a file system without hard links
        shutil.copy2(src, dst)


def _swap(tmp: Path, target: Path) -> None:
    """Commit `tmp` as `target` by renames; the previous `target` stays complete until then."""
    backup = _backup(target)
    if target.exists():
        os.replace(target, backup)
        try:
            os.replace(tmp, target)
        except BaseException:
            os.replace(backup, target)
            raise
        fsync_path(target.parent)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.replace(tmp, target)
        fsync_path(target.parent)


def _recover(target: Path) -> None:
    """Put back a directory a killed save left as `.<name>.old`; clear killed saves' leftovers."""
    backup = _backup(target)
    if backup.exists() and not target.exists():
        logger.warning("Restoring %s from %s (a save was interrupted)", target, backup)
        os.replace(backup, target)
    shutil.rmtree(backup, ignore_errors=True)
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _saving(target: Path) -> threading.Lock:
    with _SAVING_MUTEX:
        return _SAVING.setdefault(target.resolve(), threading.Lock())


def _previous_manifest(target: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((target / "manifest.json").read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def _check_json(extra: dict[str, Any]) -> None:
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise DataError(f"Expected JSON-serialisable manifest_extra. Received: {exc}") from exc


def _describe(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _backup(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def _interrupted(target: Path) -> bool:
    """`target` is missing and a complete previous version waits as `.<name>.old`."""
    backup = _backup(target)
    return not target.is_dir() and backup.is_dir() and (backup / "manifest.json").is_file()


# ---- loading --------------------------------------------------------------------------------


def _committed(target: Path) -> Path:
    if target.is_dir():
        return target
    backup = _backup(target)
    if _interrupted(target):
        if backup not in _WARNED:
            _WARNED.add(backup)
            logger.warning("Reading %s: %s is missing (a save was interrupted)", backup, target)
        return backup
    raise IndexFileError(f"Expected an index directory. Received: '{target}' (not a directory)")


def _check_files(root: Path, manifest: dict[str, Any], verify: bool) -> None:
    missing = [name for name in FILES if not (root / name).is_file()]
    if missing:
        raise IndexFileError(f"Expected {list(FILES)} in '{root}'. Missing: {missing}")
    for name, want in manifest["files"].items():
        got = {"bytes": (root / name).stat().st_size}
        if verify:
            got["sha256"] = _sha256(root / name)
        if any(got[key] != want.get(key) for key in got):
            raise IndexFileError(
                f"Expected {name} as described in manifest.json ({want}). Received: {got} in "
                f"'{root}': the file is corrupted or from another save"
            )


def _check_items(root: Path, items: StoredItems, manifest: dict[str, Any]) -> None:
    _same(root, "items.h5", "dim", items.dim, manifest["dim"])
    _same(root, "items.h5", "metric", items.metric, manifest["metric"])
    _same(root, "items.h5", "count", len(items), manifest["count"])
    _same(root, "items.h5", "id_type", items.id_type, manifest["id_type"])


def _read_faiss(path: Path) -> Any:
    try:
        return faiss.read_index(str(path))
    except RuntimeError as exc:
        raise IndexFileError(f"Expected a FAISS index in '{path}'. Received: {exc}") from exc


def _check_faiss(root: Path, index: Any, items: StoredItems, manifest: dict[str, Any]) -> None:
    metric = faiss.METRIC_INNER_PRODUCT if manifest["metric"] == "cosine" else faiss.METRIC_L2
    _same(root, "index.faiss", "dim", index.d, manifest["dim"])
    _same(root, "index.faiss", "metric_type", index.metric_type, metric)
    _same(root, "index.faiss", "ntotal", index.ntotal, manifest["ntotal"])
    keys = items.keys
    if len(keys) and (keys.min() < 0 or keys.max() >= index.ntotal or len(set(keys.tolist())) != len(keys)):
        raise IndexFileError(
            f"Expected unique keys in [0, {index.ntotal}) in items.h5. Received: keys from "
            f"{keys.min()} to {keys.max()} in '{root}'"
        )


def _search_defaults(root: Path, manifest: dict[str, Any]) -> tuple[SearchParams, dict[str, Any] | None]:
    """The saved query settings (written since `--target-recall`; `SearchParams()` before)."""
    try:
        return SearchParams(**manifest.get("search_params", {})), manifest.get("tuning")
    except (TypeError, ConfigError) as exc:
        raise IndexFileError(f"Expected valid search_params in '{root}'. Received: {exc}") from exc


def _replay(root: Path, index: FaissIndex) -> None:
    records, _ = read_journal(root / JOURNAL)
    for number, record in enumerate(records):
        try:
            apply_record(index, record)
        except (DataError, ValueError) as exc:
            raise IndexFileError(
                f"Expected journal records that apply to the saved index in '{root}'. Received: "
                f"record {number} ({record.op} of {len(record.ids)} items): {exc}"
            ) from exc
    if records:
        logger.info("Replayed %d journal records from %s", len(records), root)


def _same(root: Path, name: str, key: str, got: Any, want: Any) -> None:
    if got != want:
        raise IndexFileError(
            f"Expected {key}={want!r} in {name}, as in manifest.json. Received: {key}={got!r} in "
            f"'{root}'"
        )
