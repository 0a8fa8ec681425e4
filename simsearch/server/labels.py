"""`LabelLog`: pair labels written durably, one JSON line per act, as an append-only file.

A label act is `{"left_id", "right_id", "label"}` with label `"same"`, `"different"` or
`"unsure"`; an undo is `{"undo": true}` and takes back the latest act not yet taken back. Each
act is flushed and fsynced before it is acknowledged, so an acknowledged label survives `kill -9`;
a torn line (a kill mid-write: the start of a JSON object) is ignored on reading. Any other line
that is not an act (another file given as `--labels`, a hand edit gone wrong) is a `DataError`
naming the file and the line, before anything is appended to it. The current labels are the
replay of the file. `export` writes them as the `left_id,right_id,label` pair file (1 same, 0 different;
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
from typing import Any, NoReturn

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
            try:
                self._replay()
                self._end_torn_line()
            except OSError as exc:
                raise DataError(f"Expected a readable labels file. Received: '{self.path}' ({exc})") from exc

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
        for number, raw in enumerate(self.path.read_bytes().splitlines(), 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                self._refuse(number, f"{raw[:80]!r} (not UTF-8)")
            if not line.strip():
                continue
            try:
                act = json.loads(line)
            except json.JSONDecodeError:
                if not line.lstrip().startswith("{"):
                    self._refuse(number, repr(line[:80]))
                logger.warning("Ignoring an unreadable line %d of %s (a write cut short?)", number, self.path)
                continue
            if isinstance(act, dict) and act.keys() == {"undo"} and act["undo"] is True:
                if self._acts:
                    self._acts.pop()
            elif _is_act(act):
                self._acts.append((act["left_id"], act["right_id"], act["label"]))
            else:
                self._refuse(number, repr(line[:80]))

    def _refuse(self, number: int, shown: str) -> NoReturn:
        raise DataError(
            'Expected a labels file of JSON lines, each {"left_id", "right_id", "label": '
            f'{" | ".join(LABELS)}}} or {{"undo": true}}. Received: line {number} of '
            f"'{self.path}': {shown}"
        )

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


def _is_act(act: Any) -> bool:
    """A label act: exactly `left_id`, `right_id` (integers or text) and a known `label`."""

    def is_id(value: Any) -> bool:
        return isinstance(value, (int, str)) and not isinstance(value, bool)

    return (
        isinstance(act, dict)
        and act.keys() == {"left_id", "right_id", "label"}
        and is_id(act["left_id"])
        and is_id(act["right_id"])
        and act["label"] in LABELS
    )
