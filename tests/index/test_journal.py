"""The write-ahead journal: records round-trip, load_index replays them, a save (checkpoint) starts
a fresh directory without them, a cut-short tail is dropped, damage and second writers refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simsearch.errors import DataError, IndexFileError
from simsearch.index import (
    FaissIndex,
    IndexConfig,
    Journal,
    JournalRecord,
    load_index,
    read_journal,
    save_index,
)
from simsearch.index.journal import JOURNAL

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def saved(synthetic: Any, tmp_path: Path) -> tuple[Path, Any]:
    xb, _ = synthetic
    index = FaissIndex(IndexConfig(metric="cosine", factory="Flat")).build(xb[:500], list(range(500)))
    return save_index(tmp_path / "ix", index), xb


def update(index: FaissIndex, journal: Journal, record: JournalRecord) -> None:
    from simsearch.index import apply_record

    apply_record(index, record)
    journal.append([record])


def test_records_round_trip(synthetic: Any, tmp_path: Path) -> None:
    xb, _ = synthetic
    records = [
        JournalRecord("add", ["a", "b"], xb[:2], [{"x": 1}, None]),
        JournalRecord("upsert", [7], xb[2:3], None),
        JournalRecord("delete", ["a"]),
    ]
    (tmp_path / JOURNAL).write_bytes(b"".join(r.frame for r in records))
    back, size = read_journal(tmp_path / JOURNAL)
    assert size == (tmp_path / JOURNAL).stat().st_size
    assert [(r.op, list(r.ids), r.metadata) for r in back] == [
        (r.op, list(r.ids), None if r.metadata is None else list(r.metadata)) for r in records
    ]
    np.testing.assert_array_equal(back[0].embeddings, xb[:2])
    assert back[2].embeddings is None


def test_load_replays_and_save_checkpoints(saved: tuple[Path, Any]) -> None:
    path, xb = saved
    index = load_index(path)
    with Journal.open(path) as journal:
        update(index, journal, JournalRecord("add", [1000, 1001], xb[600:602], [{"new": True}, None]))
        update(index, journal, JournalRecord("upsert", [3], xb[700:701]))
        update(index, journal, JournalRecord("delete", [4, 1001]))
        assert journal.records == 3
    loaded = load_index(path)
    assert sorted(loaded.ids.tolist()) == sorted(index.ids.tolist())
    np.testing.assert_array_equal(loaded.get([3]), xb[700:701])
    assert loaded.metadata([1000]) == [{"new": True}] and 4 not in loaded
    save_index(path, loaded)
    assert not (path / JOURNAL).exists()
    assert sorted(load_index(path).ids.tolist()) == sorted(index.ids.tolist())


def test_a_record_cut_short_is_dropped_and_cut_off(saved: tuple[Path, Any]) -> None:
    path, xb = saved
    whole = JournalRecord("add", [1000], xb[600:601]).frame
    torn = JournalRecord("add", [1001], xb[601:602]).frame
    for cut in (1, 11, 12, len(torn) - 1):
        (path / JOURNAL).write_bytes(whole + torn[:cut])
        loaded = load_index(path)
        assert 1000 in loaded and 1001 not in loaded
        with Journal.open(path) as journal:
            assert journal.records == 1 and (path / JOURNAL).stat().st_size == len(whole)


@pytest.mark.parametrize("damage", ["bad-crc", "bad-magic"], ids=["crc-mismatch-mid-file", "not-a-record"])
def test_damage_before_the_end_is_refused(damage: str, saved: tuple[Path, Any]) -> None:
    path, xb = saved
    first = bytearray(JournalRecord("add", [1000], xb[600:601]).frame)
    second = JournalRecord("add", [1001], xb[601:602]).frame
    first[-1 if damage == "bad-crc" else 0] ^= 0xFF
    (path / JOURNAL).write_bytes(bytes(first) + second)
    with pytest.raises(IndexFileError, match="Expected"):
        load_index(path)


def test_a_record_that_does_not_apply_is_refused(saved: tuple[Path, Any]) -> None:
    path, _ = saved
    (path / JOURNAL).write_bytes(JournalRecord("delete", [99999]).frame)
    with pytest.raises(IndexFileError, match="record 0 \\(delete"):
        load_index(path)


def test_bad_records_are_refused(synthetic: Any) -> None:
    xb, _ = synthetic
    with pytest.raises(DataError, match="op in"):
        JournalRecord("drop", [1])
    with pytest.raises(DataError, match="embeddings for add and upsert only"):
        JournalRecord("add", [1])
    with pytest.raises(DataError, match="JSON-serialisable"):
        _ = JournalRecord("add", [1], xb[:1], [{"x": float("nan")}]).frame


HOLDER = """
import sys, time
from simsearch.index import Journal
journal = Journal.open(sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""


def test_one_writer_at_a_time(saved: tuple[Path, Any]) -> None:
    path, _ = saved
    index = load_index(path)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "open"
        with pytest.raises(IndexFileError, match="held by another process"):
            Journal.open(path)
        with pytest.raises(IndexFileError, match="no other writer"):
            save_index(path, index)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    save_index(path, index)  # a killed writer's lock is gone with it


APPENDER = """
import sys
import numpy as np
from simsearch.index import Journal, JournalRecord, apply_record, load_index
path = sys.argv[1]
index = load_index(path)
rng = np.random.default_rng(int(sys.argv[2]))
journal = Journal.open(path)
i = 10_000 + int(sys.argv[2]) * 100_000
while True:
    record = JournalRecord("add", [i], rng.standard_normal((1, index.dim)).astype(np.float32) + 0.1)
    apply_record(index, record)
    journal.append([record])
    print(i, flush=True)
    i += 1
"""


def test_acknowledged_appends_survive_sigkill(saved: tuple[Path, Any]) -> None:
    """A child appends and prints each id once synced; every printed id must load after SIGKILL."""
    path, _ = saved
    acknowledged: list[int] = []
    for run in range(3):
        child = subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(path), str(run)], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        acknowledged.append(int(child.stdout.readline()))
        time.sleep(0.05 + 0.1 * run)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        acknowledged += [int(line) for line in child.stdout.read().split()]
        child.stdout.close()
        loaded = load_index(path)
        assert all(i in loaded for i in acknowledged)
    assert len(acknowledged) > 3
