"""`RWLock`: many readers or one writer, writers first.

FAISS searches may run side by side but not beside an `add`; a plain lock would serialise every
query. Writers are preferred: once one waits, new readers queue behind it, so a steady stream of
queries cannot starve updates.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["RWLock"]


class RWLock:
    """A readers-writer lock.

    Example:
    >>> lock = RWLock()
    >>> with lock.read():
    ...     index.search(xq, 10)
    >>> with lock.write():
    ...     index.add(xb, ids)
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        """Hold the lock shared with other readers."""
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    def acquire_read(self, blocking: bool = True) -> bool:
        """Take the lock shared; without `blocking`, return False at once when a writer holds it or
        waits for it (the event loop never waits for a write)."""
        with self._cond:
            while self._writer or self._waiting_writers:
                if not blocking:
                    return False
                self._cond.wait()
            self._readers += 1
        return True

    def release_read(self) -> None:
        """Give back a shared hold taken by `acquire_read`."""
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """Hold the lock alone."""
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
