"""`--engine local|dask` and its options, shared by build-index, dedup and match."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from simsearch.errors import ConfigError

ENGINES = ("local", "dask")


def engine_options(command: Any) -> Any:
    """Add `--engine`, `--scheduler`, `--workers` and `--partitions` to a command."""
    options = [
        click.option(
            "--engine",
            type=click.Choice(ENGINES),
            default="local",
            show_default=True,
            help='Run here (local) or on a Dask cluster (dask: pip install "simsearch[dask]").',
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            help="With --engine dask: join this running cluster (tcp://host:8786) instead of starting "
            "a LocalCluster. Paths must be readable by every worker.",
        ),
        click.option(
            "--workers", type=int, help="With --engine dask: LocalCluster workers (default: one per core)."
        ),
        click.option(
            "--partitions",
            type=int,
            help="With --engine dask: catalogue partitions read (default 4 per worker thread), or "
            "output part files of dedup (default one per worker thread).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_engine(options: dict[str, Any]) -> bool:
    """Return whether the Dask engine was asked for; refuse Dask options without it."""
    if options["engine"] == "dask":
        from simsearch.distributed import require_dask

        require_dask()
        for name in ("workers", "partitions"):
            if options[name] is not None and options[name] < 1:
                raise ConfigError(f"Expected --{name} >= 1. Received: {options[name]}")
        return True
    given = [f"--{name}" for name in ("scheduler", "workers", "partitions") if options[name] is not None]
    if given:
        raise ConfigError(f"Expected {', '.join(given)} only with --engine dask. Received: --engine local")
    return False


@contextlib.contextmanager
def dask_client(options: dict[str, Any]) -> Iterator[Any]:
    """A Dask client for the command: a LocalCluster of `--workers`, or the `--scheduler` one."""
    from simsearch.distributed import connect

    with connect(options["scheduler"], workers=options["workers"]) as client:
        yield client
