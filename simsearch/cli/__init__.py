"""The `simsearch` command line.

`simsearch --help` and argument errors answer without importing TensorFlow: each command imports
the model code only once its arguments have been checked. Errors from simsearch become one
line on stderr and exit code 1.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

import simsearch
from simsearch.errors import SimsearchError

__all__ = ["cli", "main", "quiet_tensorflow"]


class _Group(click.Group):
    """A group that turns simsearch's errors into one clean line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SimsearchError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(simsearch.__version__, prog_name="simsearch")
@click.option(
    "-v", "--verbose", count=True, help="More log output, TensorFlow's start-up log included (-vv for debug)."
)
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """simsearch: siamese embeddings, FAISS search and duplicate detection."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    else:
        quiet_tensorflow()
    ctx.ensure_object(dict)


def quiet_tensorflow() -> None:
    """Silence TensorFlow's start-up log (oneDNN, CUDA stubs, `failed call to cuInit`, ...)
    before TensorFlow loads, without loading it.

    The C++ log level covers what TensorFlow logs once running; the lines absl writes before its
    log is initialised ignore every level, so file descriptor 2 is muted while `tensorflow`
    imports (an import error is raised after it is restored, and shows).
    """
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # over an inherited 2, which still lets cuInit errors through
    for name in ("absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(isinstance(f, _MutedImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _MutedImport("tensorflow"))


class _MutedImport(importlib.abc.MetaPathFinder):
    """Import one top-level module with file descriptor 2 pointed at /dev/null."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            run = spec.loader.exec_module

            def exec_module(module: Any) -> None:
                with _muted_stderr():
                    run(module)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


@contextlib.contextmanager
def _muted_stderr() -> Iterator[None]:
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _register() -> None:
    from simsearch.cli.compare import compare
    from simsearch.cli.dedup import dedup_command, match_command
    from simsearch.cli.evaluate import evaluate
    from simsearch.cli.faces import enrol, identify
    from simsearch.cli.index import add_command, build_index_command, delete_command
    from simsearch.cli.prepare import prepare_pairs
    from simsearch.cli.query import query
    from simsearch.cli.serve import serve
    from simsearch.cli.split import split_command
    from simsearch.cli.train import train
    from simsearch.cli.train_reranker import train_reranker

    for command in (train, evaluate, compare, build_index_command, query, add_command, delete_command):
        cli.add_command(command)
    cli.add_command(serve)
    cli.add_command(split_command)
    cli.add_command(dedup_command)
    cli.add_command(match_command)
    cli.add_command(prepare_pairs)
    cli.add_command(train_reranker)
    cli.add_command(enrol)
    cli.add_command(identify)


_register()


def main() -> None:
    """Entry point of the `simsearch` script."""
    cli(obj={})
