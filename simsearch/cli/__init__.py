"""The `simsearch` command line.

`simsearch --help` and argument errors answer without importing TensorFlow: each command imports
the model code only once its arguments have been checked. Errors from simsearch become one
line on stderr and exit code 1.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import click

import simsearch
from simsearch.errors import SimsearchError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """A group that turns simsearch's errors into one clean line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SimsearchError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(simsearch.__version__, prog_name="simsearch")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """simsearch: siamese embeddings, FAISS search and duplicate detection."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    ctx.ensure_object(dict)


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
