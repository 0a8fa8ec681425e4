"""The user's own vectors on the command line: `--vectors X.npy --ids ids.txt [--metadata FILE]`
(build-index, add, match), `--vector` (query), and build-index's budget (`--target-recall`,
`--max-memory`). Nothing here imports TensorFlow."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import table_encoding
from simsearch.errors import ConfigError, DataError

__all__ = ["BYTES", "budget_options", "load_vector_options", "parse_vector", "vector_options"]

_PATH = click.Path(exists=True, dir_okay=False, path_type=Path)
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
_UNITS |= {
    "K": 2**10,
    "M": 2**20,
    "G": 2**30,
    "T": 2**40,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_SIZE = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*")


class ByteSize(click.ParamType):
    """A memory size: `2GB` (10^9), `1.5GiB` or `1.5G` (2^30), `512MB`, `800MiB`, or bytes."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.fullmatch(str(value))
        unit = match.group(2).upper() if match else None
        if match is None or unit not in _UNITS or float(match.group(1)) <= 0:
            self.fail(f"Expected a size such as 2GB, 1.5GiB or 800MB. Received: {value!r}", param, ctx)
        return int(float(match.group(1)) * _UNITS[unit])


BYTES = ByteSize()


def vector_options(what: str) -> Any:
    """`--vectors`, `--ids` and `--metadata` of a command; `what` names the items they give."""

    def decorate(command: Any) -> Any:
        for option in reversed(
            (
                click.option(
                    "--vectors",
                    type=_PATH,
                    help=f"{what} as your own vectors: an .npy file of (n, d) floats, with --ids (no model).",
                ),
                click.option(
                    "--ids",
                    "ids_file",
                    type=_PATH,
                    help="With --vectors: one id per line, row by row (all integers: int ids; else text).",
                ),
                click.option(
                    "--metadata",
                    type=_PATH,
                    help="With --vectors: .jsonl, .csv or .parquet rows, each with an `id` and any fields.",
                ),
            )
        ):
            command = option(command)
        return command

    return decorate


def load_vector_options(options: dict[str, Any]) -> Any:
    """The `VectorCatalog` of --vectors/--ids/--metadata (None without --vectors); --ids and
    --metadata without --vectors are refused."""
    from simsearch.data.vectors import load_vectors

    given = [f"--{name}" for name, key in (("ids", "ids_file"), ("metadata", "metadata")) if options.get(key)]
    if options.get("vectors") is None:
        if given:
            raise ConfigError(f"Expected --vectors with {', '.join(given)}. Received: no --vectors")
        return None
    if not options.get("ids_file"):
        raise ConfigError("Expected --ids (one id per line) with --vectors. Received: no --ids")
    return load_vectors(
        options["vectors"], options["ids_file"], options.get("metadata"), encoding=table_encoding()
    )


def budget_options(command: Any) -> Any:
    """build-index's `--target-recall` and `--max-memory`."""
    command = click.option(
        "--max-memory",
        type=BYTES,
        help="With --target-recall: the most memory the loaded index may take (FAISS index and the float "
        "vectors it keeps), e.g. 2GB or 1.5GiB; quantised kinds are considered, re-scored with the "
        "float vectors where it allows.",
    )(command)
    return click.option(
        "--target-recall",
        type=click.FloatRange(0, 1, min_open=True),
        help="Choose the index kind and its nprobe/efSearch: the fastest that reaches this recall@10 "
        "against exact search on held-out catalogue rows (recorded in the manifest and printed).",
    )(command)


def make_budget(options: dict[str, Any]) -> Any:
    """The `Budget` of --target-recall/--max-memory, or None; checked against --factory."""
    if options.get("target_recall") is None:
        if options.get("max_memory") is not None:
            raise ConfigError("Expected --target-recall with --max-memory. Received: no --target-recall")
        return None
    if options.get("factory"):
        raise ConfigError(
            "Expected --factory or --target-recall (which chooses the factory), not both. Received: both"
        )
    from simsearch.index.budget import Budget

    return Budget(
        target_recall=options["target_recall"], max_memory=options.get("max_memory"), seed=options["seed"]
    )


def parse_vector(text: str, what: str = "--vector") -> list[float]:
    """A vector given on the command line: a JSON list, or numbers separated by commas or spaces."""
    body = text.strip()
    try:
        values = (
            json.loads(body) if body.startswith("[") else [float(v) for v in re.split(r"[,\s]+", body) if v]
        )
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"Expected {what} as numbers (0.1,0.2,... or a JSON list). Received: {text[:60]!r}"
        ) from exc
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise DataError(f"Expected {what} as a non-empty list of numbers. Received: {text[:60]!r}")
    return [float(v) for v in values]
