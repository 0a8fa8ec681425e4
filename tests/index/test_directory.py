"""Index directories: atomic saves (failures injected at every step, SIGKILL), checked loads."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import simsearch
from simsearch.errors import DataError, IndexFileError, NotBuiltError
from simsearch.index import FaissIndex, IndexConfig, load_index, read_manifest, save_index
from simsearch.index import directory as directory_module
from simsearch.index import h5_store as h5_module

REPO = Path(__file__).resolve().parents[2]


def make_index(xb: npt.NDArray[np.float32], n: int) -> FaissIndex:
    ids = [f"item-{i}" for i in range(n)]
    return FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb[:n], ids)


def leftovers(parent: Path) -> list[str]:
    """Temporary or backup directories a save left beside the index."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock"))


def fail_at_call(nth: int, original: Callable[..., Any]) -> Callable[..., Any]:
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == nth:
            raise OSError(f"injected failure at call {nth}")
        return original(*args, **kwargs)

    return wrapper


# (object, attribute, which call fails) for each write step of a save
STEPS = {
    "write-index.faiss": (directory_module, "_write_faiss", 1),
    "write-items.h5": (h5_module, "_write", 1),
    "rename-items.h5-into-tmp": (os, "replace", 1),
    "hash-files": (directory_module, "_sha256", 2),
    "write-manifest.json": (directory_module, "_write_json", 1),
    "carry-over-other-files": (directory_module, "_carry_over", 1),
    "sync-tmp-dir": (directory_module, "fsync_path", 2),
    "rename-previous-away": (os, "replace", 2),
    "rename-new-into-place": (os, "replace", 3),
}


@pytest.mark.parametrize("step", STEPS, ids=list(STEPS))
def test_a_failed_save_keeps_the_previous_index(
    step: str, synthetic: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xb, xq = synthetic
    target = tmp_path / "ix"
    save_index(target, make_index(xb, 1000), {"version": 1})
    newer = make_index(xb, 1500)
    obj, name, nth = STEPS[step]
    monkeypatch.setattr(obj, name, fail_at_call(nth, getattr(obj, name)))
    with pytest.raises(OSError, match="injected"):
        save_index(target, newer, {"version": 2})
    monkeypatch.undo()
    loaded = load_index(target)
    assert len(loaded) == 1000 and read_manifest(target)["extra"] == {"version": 1}
    np.testing.assert_array_equal(loaded.search(xq, 5).ids, make_index(xb, 1000).search(xq, 5).ids)
    assert leftovers(tmp_path) == []
    save_index(target, newer, {"version": 2})  # the lock was released
    assert len(load_index(target)) == 1500


def test_a_failed_first_save_leaves_nothing(
    synthetic: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xb, _ = synthetic
    monkeypatch.setattr(directory_module, "_write_json", fail_at_call(1, directory_module._write_json))
    with pytest.raises(OSError, match="injected"):
        save_index(tmp_path / "ix", make_index(xb, 100))
    assert not (tmp_path / "ix").exists() and leftovers(tmp_path) == []
    with pytest.raises(IndexFileError, match="not a directory"):
        load_index(tmp_path / "ix")


def test_a_save_killed_between_the_renames_is_recovered(synthetic: Any, tmp_path: Path) -> None:
    xb, _ = synthetic
    target = tmp_path / "ix"
    save_index(target, make_index(xb, 1000), {"version": 1})
    # The state a SIGKILL after the first rename leaves: the previous index moved aside, a
    # complete or partial new one under a temporary name.
    os.replace(target, tmp_path / ".ix.old")
    (tmp_path / ".ix.tmp-killed").mkdir()
    (tmp_path / ".ix.tmp-killed" / "index.faiss").write_bytes(b"partial")
    assert len(load_index(target)) == 1000
    save_index(target, make_index(xb, 1200), {"version": 2})
    assert len(load_index(target)) == 1200 and leftovers(tmp_path) == []


CHILD = """
import sys
from simsearch.index import FaissIndex, IndexConfig, make_synthetic, save_index
xb, _ = make_synthetic(20000, 32, seed=0)
index = FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, [f"item-{i}" for i in range(len(xb))])
print("ready", flush=True)
version = 2
while True:
    index.add(xb[:1] + version, [f"v{version}"])
    save_index(sys.argv[1], index, {"version": version})
    version += 1
"""


def test_a_save_killed_at_random_moments_leaves_a_loadable_index(tmp_path: Path) -> None:
    """Each save adds item `v{version}`: whatever loads must be one complete version."""
    from simsearch.index import make_synthetic

    xb, _ = make_synthetic(20000, 32, seed=0)
    target = tmp_path / "ix"
    save_index(target, make_index(xb, 20000), {"version": 1})
    rng = random.Random(0)
    versions = []
    for _ in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(target)], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        version = read_manifest(target)["extra"]["version"]
        loaded = load_index(target)
        assert len(loaded) == 20000 + version - 1
        assert version == 1 or f"v{version}" in loaded
        versions.append(version)
    assert len(load_index(target)) == 20000 + versions[-1] - 1


def test_the_manifest_describes_the_index(synthetic: Any, tmp_path: Path) -> None:
    xb, _ = synthetic
    target = tmp_path / "ix"
    index = make_index(xb, 300)
    save_index(target, index, {"model": "models/m", "model_sha256": "ab12", "threshold": 0.25})
    first = read_manifest(target)
    assert first["format_version"] == 1 and first["simsearch_version"] == simsearch.__version__
    described = (first["dim"], first["metric"], first["factory"], first["kind"])
    assert described == (32, "l2", "Flat", "IndexFlatL2")
    assert (first["count"], first["ntotal"], first["id_type"]) == (300, 300, "str")
    assert first["config"] == {"metric": "l2", "factory": "Flat", "train_size": None, "seed": 0,
                               "max_tombstones": 0.2, "ef_construction": 100}
    assert set(first["files"]) == {"index.faiss", "items.h5"}
    index.delete(["item-3"])
    save_index(target, index)  # None keeps the extra entries of the index it replaces
    second = read_manifest(target)
    assert second["extra"] == first["extra"] and second["created"] == first["created"]
    assert second["count"] == 299
    save_index(target, index, {})
    assert read_manifest(target)["extra"] == {}


def test_other_files_in_the_directory_survive_saves(synthetic: Any, tmp_path: Path) -> None:
    xb, _ = synthetic
    target = tmp_path / "ix"
    save_index(target, make_index(xb, 100))
    (target / "tower.keras").write_bytes(b"weights")
    (target / "plots").mkdir()
    (target / "plots" / "pr.png").write_bytes(b"png")
    save_index(target, make_index(xb, 120))
    assert (target / "tower.keras").read_bytes() == b"weights"
    assert (target / "plots" / "pr.png").read_bytes() == b"png"
    assert len(load_index(target)) == 120 and leftovers(tmp_path) == []


def test_bad_saves_are_refused(synthetic: Any, tmp_path: Path) -> None:
    xb, _ = synthetic
    with pytest.raises(NotBuiltError):
        save_index(tmp_path / "ix", FaissIndex())
    with pytest.raises(DataError, match="JSON-serialisable manifest_extra"):
        save_index(tmp_path / "ix", make_index(xb, 10), {"model": object()})
    assert not (tmp_path / "ix").exists()


def _edit_manifest(root: Path, **changes: Any) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    manifest.update(changes)
    (root / "manifest.json").write_text(json.dumps(manifest))


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


CORRUPTIONS = {
    "missing-index.faiss": (lambda root: (root / "index.faiss").unlink(), r"Missing: \['index.faiss'\]"),
    "missing-items.h5": (lambda root: (root / "items.h5").unlink(), r"Missing: \['items.h5'\]"),
    "missing-manifest.json": (lambda root: (root / "manifest.json").unlink(), "manifest.json"),
    "truncated-index.faiss": (
        lambda root: (root / "index.faiss").write_bytes((root / "index.faiss").read_bytes()[:-100]),
        "index.faiss as described in manifest.json.*corrupted",
    ),
    "flipped-byte-items.h5": (lambda root: _flip_last_byte(root / "items.h5"), "items.h5 as described"),
    "manifest-not-json": (lambda root: (root / "manifest.json").write_text("{oops"), "Expected JSON"),
    "other-format-version": (lambda root: _edit_manifest(root, format_version=99), "format_version 1"),
    "manifest-dim": (lambda root: _edit_manifest(root, dim=64), r"dim=64 in items.h5.*dim=32"),
    "manifest-metric": (lambda root: _edit_manifest(root, metric="cosine"), "metric='cosine'"),
    "manifest-count": (lambda root: _edit_manifest(root, count=7), "count=7"),
    "manifest-ntotal": (lambda root: _edit_manifest(root, ntotal=7), "ntotal=7"),
    "manifest-lacks-keys": (
        lambda root: (root / "manifest.json").write_text('{"format_version": 1}'), "Missing: "
    ),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_a_corrupted_directory_is_refused_clearly(corruption: str, synthetic: Any, tmp_path: Path) -> None:
    xb, _ = synthetic
    save_index(tmp_path / "ix", make_index(xb, 200))
    damage, message = CORRUPTIONS[corruption]
    damage(tmp_path / "ix")
    with pytest.raises(IndexFileError, match=message):
        load_index(tmp_path / "ix")


def test_verify_false_skips_hashes_but_not_sizes(synthetic: Any, tmp_path: Path) -> None:
    xb, _ = synthetic
    root = save_index(tmp_path / "ix", make_index(xb, 200))
    _flip_last_byte(root / "index.faiss")  # the last vector of a Flat index: only the hash tells
    with pytest.raises(IndexFileError, match="sha256"):
        load_index(root)
    assert len(load_index(root, verify=False)) == 200
    (root / "index.faiss").write_bytes((root / "index.faiss").read_bytes()[:-4])
    with pytest.raises(IndexFileError, match="bytes"):
        load_index(root, verify=False)


def test_importing_the_index_does_not_import_tensorflow() -> None:
    code = "import sys, simsearch.index; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False False"
