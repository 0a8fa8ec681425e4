"""`--index` as the commands open it: `INDEX` for an existing index directory, and `writing` /
`wait_option` for the commands that write one (one writer at a time, see `simsearch.index.lock`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

__all__ = ["INDEX", "IndexPath", "wait_option", "writing"]


class IndexPath(click.Path):
    """An existing index directory, or one a save killed between its two renames left as
    `.<name>.old`: that one is put back (a warning in the log), or read as it is while another
    process writes the index."""

    def __init__(self) -> None:
        super().__init__(exists=True, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (str, os.PathLike)) and not os.path.exists(value):
            from simsearch.index import recover_index

            if recover_index(value):
                return Path(value)
        return super().convert(value, param, ctx)


INDEX = IndexPath()


def wait_option(command: Any) -> Any:
    """Add `--wait/--no-wait` to a command that writes an index directory."""
    return click.option(
        "--wait/--no-wait",
        default=True,
        show_default=True,
        help="When another process is writing the index (a CLI write, or `serve` with writes): "
        "wait for it to finish (the log says who it is), or fail at once (exit 1).",
    )(command)


@contextlib.contextmanager
def writing(index_dir: Path, *, wait: bool) -> Iterator[None]:
    """Hold the writer lock of `index_dir` for the whole load -> update -> save, and put back a
    directory a killed save left as `.<name>.old`."""
    from simsearch.index import WriterLock, recover_index

    with WriterLock(index_dir, wait=wait):
        recover_index(index_dir)
        yield
