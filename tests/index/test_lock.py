"""`WriterLock` and `recover_index`: one writer of an index directory at a time across real
processes (no update lost when several load -> update -> save at once), a holder named to those
that wait, and a directory a save left between its two renames put back once."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from simsearch.errors import BusyError
from simsearch.index import (
    FaissIndex,
    IndexConfig,
    WriterLock,
    held_here,
    load_index,
    recover_index,
    save_index,
)
from simsearch.index.lock import lock_path

REPO = Path(__file__).resolve().parents[2]

HOLDER = """
import sys
from simsearch.index import WriterLock
with WriterLock(sys.argv[1], command="holder-test"):
    print("held", flush=True)
    sys.stdin.readline()
"""

# Each child does ROUNDS load -> update -> save under the lock, and prints each acknowledged one.
WRITER = """
import sys
import numpy as np
from simsearch.index import WriterLock, load_index, save_index
path, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(abs(hash(name)) % 1000)
for r in range(rounds):
    with WriterLock(path):
        index = load_index(path)
        if r % 3 == 2:
            index.delete([f"{name}-{r - 1}"])
            save_index(path, index)
            print("deleted", f"{name}-{r - 1}", flush=True)
        else:
            index.add(rng.standard_normal((1, 8)).astype("float32"), [f"{name}-{r}"])
            save_index(path, index)
            print("added", f"{name}-{r}", flush=True)
"""


def _index(tmp_path: Path, n: int = 20) -> Path:
    xb = np.random.default_rng(0).standard_normal((n, 8)).astype(np.float32)
    index = FaissIndex(IndexConfig(metric="l2", factory="Flat")).build(xb, [f"seed-{i}" for i in range(n)])
    return save_index(tmp_path / "ix", index)


def _python(script: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=env,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


class Holder:
    """A real process holding the writer lock of `path` until `release`."""

    def __init__(self, path: Path) -> None:
        self.process = _python(HOLDER, str(path), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout is not None and self.process.stdout.readline() == "held\n"

    def release(self) -> None:
        self.process.communicate("\n", timeout=30)  # closes the pipes too
        assert self.process.returncode == 0


def test_no_wait_names_the_holder_and_waiting_gets_the_lock_once_it_is_released(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = _index(tmp_path)
    holder = Holder(target)
    with pytest.raises(BusyError, match=rf"pid {holder.process.pid} \(holder-test\) since .* is writing it"):
        WriterLock(target, wait=False).acquire()
    got = threading.Event()

    def wait_for_it() -> None:
        with WriterLock(target):
            got.set()

    waiter = threading.Thread(target=wait_for_it)
    with caplog.at_level(logging.WARNING, logger="simsearch.index.lock"):
        waiter.start()
        time.sleep(1.0)
        assert not got.is_set()  # still held by the other process
        holder.release()
        waiter.join(timeout=30)
    assert got.is_set()
    assert f"Waiting for pid {holder.process.pid} (holder-test)" in caplog.text
    assert f"to finish writing {target}" in caplog.text
    assert lock_path(target).read_text() == ""  # released: no holder named any more


def test_a_process_holding_the_lock_saves_under_it(tmp_path: Path) -> None:
    target = _index(tmp_path)
    with WriterLock(target):
        assert held_here(target)
        index = load_index(target)
        index.delete(["seed-0"])
        save_index(target, index)  # takes the lock again: no deadlock
        checker = _python(HOLDER, str(target), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        time.sleep(0.5)
        assert checker.poll() is None  # another process cannot take it meanwhile
    assert not held_here(target)
    assert checker.stdout is not None and checker.stdout.readline() == "held\n"
    checker.communicate("\n", timeout=30)
    assert "seed-0" not in load_index(target)


def test_concurrent_writers_lose_no_acknowledged_update(tmp_path: Path) -> None:
    target = _index(tmp_path)
    writers = [_python(WRITER, str(target), f"w{i}", "9", stdout=subprocess.PIPE) for i in range(3)]
    added, deleted = set(), set()
    for writer in writers:
        out, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0
        for line in out.splitlines():
            op, item = line.split()
            (added if op == "added" else deleted).add(item)
    assert len(added) == 18 and len(deleted) == 9
    index = load_index(target)
    assert sorted(index.ids.tolist()) == sorted({f"seed-{i}" for i in range(20)} | (added - deleted))


def test_a_directory_left_between_the_renames_is_put_back_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = _index(tmp_path)
    os.replace(target, tmp_path / ".ix.old")
    with caplog.at_level(logging.WARNING):
        assert recover_index(target)
        assert recover_index(target)
    assert target.is_dir() and not (tmp_path / ".ix.old").exists()
    assert caplog.text.count("Restoring") == 1 and len(load_index(target)) == 20
    assert not recover_index(tmp_path / "missing")


def test_while_a_writer_holds_the_lock_the_old_directory_is_read_in_place(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = _index(tmp_path)
    os.replace(target, tmp_path / ".ix.old")
    holder = Holder(target)  # it may be the very save between its renames: leave it alone
    with caplog.at_level(logging.WARNING):
        assert recover_index(target)
        assert not target.exists()
        assert len(load_index(target)) == 20 and len(load_index(target)) == 20
    assert caplog.text.count("a save was interrupted") == 1
    holder.release()
    assert recover_index(target) and target.is_dir()
