"""`LabelLog`: pair labels written durably, one JSON line per act, as an append-only file.

A label act is `{"left_id", "right_id", "label"}` with label `"same"`, `"different"` or
`"unsure"`; an undo is `{"undo": true}` and takes back the latest act not yet taken back. Each
act is flushed and fsynced before it is acknowledged, so an acknowledged label survives `kill -9`;
a torn last line (a kill mid-write) is ignored on reading. The current labels are the replay of
the file. `export` writes them as the `left_id,right_id,label` pair file (1 same, 0 different;
unsure left out) that `simsearch train --pairs` reads.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from simsearch.errors import DataError

__all__ = ["LABELS", "LabelLog"]

logger = logging.getLogger(__name__)

LABELS = ("same", "different", "unsure")
_PAIR_LABEL = {"same": 1, "different": 0}


class LabelLog:
    """The labels of candidate pairs, kept in the JSON-lines file at `path` (created if absent)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._acts: list[tuple[Any, Any, str]] = []  # the acts in force, oldest first
        if self.path.exists():
            self._replay()
            self._end_torn_line()

    def _end_torn_line(self) -> None:
        """End a last line cut short by a kill, so the next act starts a line of its own."""
        with open(self.path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                return
            f.seek(-1, os.SEEK_END)
            torn = f.read(1) != b"\n"
        if torn:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())

    def _replay(self) -> None:
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            try:
                act = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("Ignoring an unreadable line %d of %s (a write cut short?)", number, self.path)
                continue
            if act.get("undo"):
                if self._acts:
                    self._acts.pop()
            else:
                self._acts.append((act["left_id"], act["right_id"], act["label"]))

    @property
    def labels(self) -> dict[tuple[Any, Any], str]:
        """The current label of each labelled pair (the latest act on it)."""
        with self._lock:
            return {(left, right): label for left, right, label in self._acts}

    def add(self, left_id: Any, right_id: Any, label: str) -> None:
        """Record a label; returns once it is on disk."""
        if label not in LABELS:
            raise DataError(f"Expected a label in {list(LABELS)}. Received: {label!r}")
        with self._lock:
            self._append({"left_id": left_id, "right_id": right_id, "label": label})
            self._acts.append((left_id, right_id, label))

    def undo(self) -> tuple[Any, Any, str] | None:
        """Take back the latest label still in force; returns it (None when there is none)."""
        with self._lock:
            if not self._acts:
                return None
            self._append({"undo": True})
            return self._acts.pop()

    def export(self) -> str:
        """The same/different labels as a `left_id,right_id,label` CSV pair file."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["left_id", "right_id", "label"])
        for (left, right), label in self.labels.items():
            if label in _PAIR_LABEL:
                writer.writerow([left, right, _PAIR_LABEL[label]])
        return out.getvalue()

    def _append(self, act: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(act) + "\n")
            f.flush()
            os.fsync(f.fileno())
