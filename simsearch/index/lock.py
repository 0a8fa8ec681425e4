"""`WriterLock`: one writer of an index directory at a time, across processes.

A writer holds the lock for its whole load -> modify -> save (`simsearch add`, `delete`,
`build-index`, `enrol`), or for its life (`simsearch serve` with writes): two writers that each
loaded the same directory would otherwise both save, and the second save would drop the first's
changes. Readers never wait for it.

The lock is an `flock` on `.<name>.lock` beside the directory (the directory itself is replaced
by a rename at each save, so a lock inside it would not be the same file for long). The holder
writes its pid, command line and start time into that file, so a writer that finds it taken can
say who it waits for. The kernel drops an `flock` when its holder dies, `kill -9` included: a
lock is never stale, whatever the file still says.

A process that holds the lock of a directory takes it again at no cost (`save_index` inside a
CLI write or a server's checkpoint); `held_here` tells whether it does.

Example:
>>> with WriterLock("indexes/catalogue"):            # waits while another process writes it
...     index = load_index("indexes/catalogue"); index.delete(["x"]); save_index("indexes/catalogue", index)
>>> WriterLock("indexes/catalogue", wait=False).acquire()   # BusyError at once when taken
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simsearch.errors import BusyError

__all__ = ["WriterLock", "held_here", "lock_path", "try_lock", "writer_lock"]

logger = logging.getLogger(__name__)

_HELD: dict[Path, int] = {}  # lock file -> how many times this process holds it
_HELD_MUTEX = threading.Lock()


def lock_path(directory: str | os.PathLike[str]) -> Path:
    """The lock file of an index directory: `.<name>.lock` beside it."""
    target = Path(directory)
    return target.parent / f".{target.name}.lock"


def held_here(directory: str | os.PathLike[str]) -> bool:
    """Whether this process holds the writer lock of `directory`."""
    with _HELD_MUTEX:
        return _key(directory) in _HELD


class WriterLock:
    """The exclusive writer lock of one index directory.

    Args:
        directory: the index directory (it need not exist yet; its parent is created).
        wait: when another process holds the lock, wait for it (logging who holds it once), or
            raise `BusyError` at once.
        command: how the holder is named to the others (default: this process's command line).
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, wait: bool = True, command: str | None = None
    ) -> None:
        self.directory = Path(directory)
        self.wait = wait
        self.command = command
        self._fd: int | None = None
        self._reentered = False

    def acquire(self) -> WriterLock:
        """Take the lock (again, at no cost, when this process holds it already). Returns `self`.

        Raises:
            BusyError: another process holds it and `wait` is False.
        """
        key = _key(self.directory)
        key.parent.mkdir(parents=True, exist_ok=True)
        with _HELD_MUTEX:
            if key in _HELD:
                _HELD[key] += 1
                self._reentered = True
                return self
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._lock(fd)
            _write_holder(fd, self.command)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        with _HELD_MUTEX:
            _HELD[key] = 1
        return self

    def release(self) -> None:
        """Give the lock back (idempotent)."""
        key = _key(self.directory)
        if self._reentered:
            self._reentered = False
            with _HELD_MUTEX:
                if key in _HELD:
                    _HELD[key] -= 1
            return
        if self._fd is None:
            return
        with _HELD_MUTEX:
            _HELD.pop(key, None)
        try:
            os.ftruncate(self._fd, 0)  # the next holder writes its own name; a waiter reads none
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _lock(self, fd: int) -> None:
        if try_lock(fd):
            return
        holder = describe_holder(fd)
        if not self.wait:
            raise BusyError(
                f"Expected no other writer of '{self.directory}'. Received: {holder} is writing it; "
                "try again once it has finished"
            )
        logger.warning("Waiting for %s to finish writing %s", holder, self.directory)
        fcntl.flock(fd, fcntl.LOCK_EX)


@contextlib.contextmanager
def writer_lock(directory: str | os.PathLike[str], *, wait: bool = True) -> Iterator[WriterLock]:
    """`with writer_lock(path):` — a `WriterLock` held for the block."""
    with WriterLock(directory, wait=wait) as lock:
        yield lock


def describe_holder(fd: int) -> str:
    """Who holds a lock file, as its holder wrote it: `pid 123 (simsearch add ...) since ...`."""
    try:
        record: Any = json.loads(os.pread(fd, 4096, 0) or b"null")
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or "pid" not in record:
        return "another process"
    host = "" if record.get("host") == socket.gethostname() else f" on {record.get('host')}"
    return f"pid {record['pid']}{host} ({record.get('command', '?')}) since {record.get('since', '?')}"


def _write_holder(fd: int, command: str | None) -> None:
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command or _command_line(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode() + b"\n", 0)


def _command_line() -> str:
    argv = list(sys.argv) or ["python"]
    if argv[0].endswith(("simsearch/__main__.py", os.sep + "simsearch")):
        argv[0] = "simsearch"
    return shlex.join(argv)


def _key(directory: str | os.PathLike[str]) -> Path:
    path = lock_path(Path(directory).absolute())
    return path.parent.resolve() / path.name


def try_lock(fd: int) -> bool:
    """Take an exclusive `flock` on `fd` without waiting; False when another open file holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
