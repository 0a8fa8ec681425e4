"""Sentence-pair corpora (MRPC, STS Benchmark, SICK, or any table of two text columns) as a
catalogue plus train / valid / test pair files that `simsearch train --pairs` reads.

    splits = read_text_pairs("msr_paraphrase_train.txt", "mrpc") | ...
    write_text_pairs(prepare_text_pairs(splits, valid_fraction=0.1), "data/mrpc")

Every distinct sentence becomes one catalogue item (`id`, `text`), so a sentence that occurs in
several pairs is encoded once and paraphrase retrieval searches each sentence once. Pair files
have `left_id, right_id, label, score`: `label` is 1 for a paraphrase (or a graded score at or
above `positive_at`), `score` the corpus's graded similarity where it has one (STS-B 0-5,
SICK 1-5), else the label. No TensorFlow import.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from simsearch.errors import ConfigError, DataError

__all__ = [
    "FORMATS",
    "PairTable",
    "TextPair",
    "prepare_text_pairs",
    "read_text_pairs",
    "write_text_pairs",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class TextPair:
    """One labelled sentence pair; `score` is the graded similarity (the label when ungraded)."""

    left: str
    right: str
    label: int
    score: float


@dataclass(frozen=True)
class _Format:
    left: str
    right: str
    label: str | None  # binary label column, or None when graded
    score: str | None  # graded similarity column
    split: str | None  # column naming the split, when one file holds all splits
    header: Sequence[str] | None  # column names when the file has no header row
    positive_at: float | None  # graded score at or above which a pair counts as a paraphrase


FORMATS: Mapping[str, _Format] = {
    # Dolan & Brockett (2005): Quality, #1 ID, #2 ID, #1 String, #2 String.
    "mrpc": _Format("#1 String", "#2 String", "Quality", None, None, None, None),
    # Cer et al. (2017): no header; genre, file, year, id, score, sentence1, sentence2.
    "stsb": _Format(
        "sentence1",
        "sentence2",
        None,
        "score",
        None,
        ("genre", "file", "year", "id", "score", "sentence1", "sentence2"),
        4.0,
    ),
    # Marelli et al. (2014): one file, SemEval_set TRAIN / TRIAL / TEST.
    "sick": _Format("sentence_A", "sentence_B", None, "relatedness_score", "SemEval_set", None, 4.0),
}
# SICK's split names.
_SPLIT_NAMES = {"train": "train", "trial": "valid", "dev": "valid", "valid": "valid", "test": "test"}


@dataclass(frozen=True)
class PairTable:
    """A prepared corpus: catalogue texts (position = item) and pairs per split."""

    texts: list[str]
    ids: list[str]
    splits: dict[str, list[tuple[int, int, int, float]]]


def read_text_pairs(
    path: str | Path,
    format: str = "mrpc",
    *,
    left: str | None = None,
    right: str | None = None,
    label: str | None = None,
    score: str | None = None,
    positive_at: float | None = None,
    encoding: str = "utf-8",
) -> dict[str, list[TextPair]]:
    """Read one tab- or comma-separated pair file.

    Args:
        path: the file (`.tsv`/`.txt` tab-separated, `.csv` comma-separated; STS-B's `.csv`
            files are tab-separated and read as such with `format="stsb"`).
        format: `"mrpc"`, `"stsb"`, `"sick"`, or `"table"` for any file with a header, naming the
            columns with `left`, `right` and `label` (0/1) or `score` (graded, with `positive_at`).
        positive_at: for graded scores, the score at or above which `label` is 1.
        encoding: the file's text encoding.

    Returns:
        Pairs by split name: `{"all": [...]}`, or `train` / `valid` / `test` when the file says.

    Example:
        >>> read_text_pairs("sts-train.csv", "stsb")["all"][0].score
        5.0
    """
    spec = _format(format, left, right, label, score, positive_at)
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Expected a pair file. Received: path='{path}' (missing)")
    rows = _read_rows(path, spec, format, encoding)
    out: dict[str, list[TextPair]] = {}
    for number, row in enumerate(rows, start=2 if spec.header is None else 1):
        pair = _pair(row, spec, path, number)
        if pair is None:
            continue
        split = "all"
        if spec.split is not None:
            name = row.get(spec.split, "").strip().lower()
            if name not in _SPLIT_NAMES:
                raise DataError(
                    f"Expected {spec.split} in {sorted(_SPLIT_NAMES)} at line {number} of '{path}'. "
                    f"Received: {name!r}"
                )
            split = _SPLIT_NAMES[name]
        out.setdefault(split, []).append(pair)
    if not out:
        raise DataError(f"Expected at least one sentence pair in '{path}'. Received: none")
    logger.info("Read %s pairs from %s", sum(map(len, out.values())), path)
    return out


def _format(
    name: str,
    left: str | None,
    right: str | None,
    label: str | None,
    score: str | None,
    positive_at: float | None,
) -> _Format:
    if name == "table":
        if not left or not right or bool(label) == bool(score):
            raise ConfigError(
                "Expected left and right columns and exactly one of label or score for format='table'. "
                f"Received: left={left!r}, right={right!r}, label={label!r}, score={score!r}"
            )
        if score and positive_at is None:
            raise ConfigError("Expected positive_at with a graded score column. Received: positive_at=None")
        return _Format(left, right, label, score, None, None, positive_at)
    if name not in FORMATS:
        raise ConfigError(f"Expected format in {[*FORMATS, 'table']}. Received: format={name!r}")
    spec = FORMATS[name]
    if positive_at is not None:
        if spec.score is None:
            raise ConfigError(
                f"Expected no positive_at for the binary format {name!r}. Received: {positive_at}"
            )
        spec = dataclasses.replace(spec, positive_at=positive_at)
    return spec


def _read_rows(path: Path, spec: _Format, format: str, encoding: str) -> list[dict[str, str]]:
    from simsearch.data.loaders import csv_field_limit, decode_error, text_codec

    delimiter = "," if path.suffix.lower() == ".csv" and format == "table" else "\t"
    csv_field_limit()
    with path.open(newline="", encoding=text_codec(encoding)) as handle:
        # Sentences hold quotes that are not CSV quoting (MRPC, STS-B); only tables quote.
        quoting: Literal[0, 3] = csv.QUOTE_MINIMAL if format == "table" else csv.QUOTE_NONE
        fields = list(spec.header) if spec.header else None
        reader = csv.DictReader(handle, fieldnames=fields, delimiter=delimiter, quoting=quoting)
        try:
            rows = list(reader)
        except UnicodeDecodeError as exc:
            raise decode_error(exc, encoding, path) from None
        except csv.Error as exc:
            raise DataError(
                f"Expected a readable pair file '{path}'. Received: {exc} at line {reader.line_num}"
            ) from None
        header = reader.fieldnames or []
    needed = [c for c in (spec.left, spec.right, spec.label, spec.score, spec.split) if c]
    missing = [c for c in needed if c not in header]
    if missing:
        raise DataError(
            f"Expected columns {needed} in '{path}'. Received: {list(header)} (missing {missing})"
        )
    return rows


def _pair(row: Mapping[str, str | None], spec: _Format, path: Path, number: int) -> TextPair | None:
    left, right = (row.get(spec.left) or "").strip(), (row.get(spec.right) or "").strip()
    if not left or not right:
        logger.warning("Skipped line %s of %s: an empty sentence", number, path)
        return None
    if spec.score is not None and spec.positive_at is not None:
        score = _number(row.get(spec.score), spec.score, path, number)
        return TextPair(left, right, int(score >= spec.positive_at), score)
    value = (row.get(spec.label or "") or "").strip()
    if value not in ("0", "1"):
        raise DataError(f"Expected {spec.label} 0 or 1 at line {number} of '{path}'. Received: {value!r}")
    return TextPair(left, right, int(value), float(value))


def _number(value: str | None, column: str, path: Path, number: int) -> float:
    try:
        score = float(value or "")
    except ValueError:
        raise DataError(
            f"Expected a number in {column} at line {number} of '{path}'. Received: {value!r}"
        ) from None
    if not np.isfinite(score):
        raise DataError(f"Expected a finite {column} at line {number} of '{path}'. Received: {value!r}")
    return score


def prepare_text_pairs(
    splits: Mapping[str, Sequence[TextPair]], *, valid_fraction: float = 0.1, seed: int = 0
) -> PairTable:
    """Give every distinct sentence one id and split the pairs into train / valid / test.

    Args:
        splits: pairs by split name (`train`, `valid`, `test`); pairs under `all` or a missing
            `valid` are drawn from `train`, seeded.
        valid_fraction: share of `train` held out as `valid` when no `valid` split is given.

    Raises:
        DataError: when no `test` split is given.
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ConfigError(f"Expected 0 < valid_fraction < 1. Received: valid_fraction={valid_fraction}")
    named = {name: list(pairs) for name, pairs in splits.items()}
    if "all" in named:
        named.setdefault("train", []).extend(named.pop("all"))
    unknown = sorted(set(named) - set(SPLITS))
    if unknown or "train" not in named or "test" not in named:
        raise DataError(
            f"Expected pairs for train and test (and optionally valid). Received: splits={sorted(named)}"
        )
    if "valid" not in named:
        order = np.random.default_rng(seed).permutation(len(named["train"]))
        cut = max(1, round(valid_fraction * len(order)))
        train = named["train"]
        named["valid"] = [train[i] for i in sorted(order[:cut])]
        named["train"] = [train[i] for i in sorted(order[cut:])]
    position: dict[str, int] = {}
    out: dict[str, list[tuple[int, int, int, float]]] = {}
    for name in SPLITS:
        out[name] = [
            (
                position.setdefault(p.left, len(position)),
                position.setdefault(p.right, len(position)),
                p.label,
                p.score,
            )
            for p in named[name]
        ]
    texts = list(position)
    width = len(str(len(texts)))
    return PairTable(texts, [f"s{i:0{width}d}" for i in range(len(texts))], out)


def write_text_pairs(table: PairTable, folder: str | Path) -> dict[str, Path]:
    """Write `catalog.csv` (id, text) and `train.csv` / `valid.csv` / `test.csv`, each atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "catalog": _write(folder / "catalog.csv", ["id", "text"], zip(table.ids, table.texts, strict=True))
    }
    for name, pairs in table.splits.items():
        rows = ((table.ids[a], table.ids[b], label, f"{score:g}") for a, b, label, score in pairs)
        paths[name] = _write(folder / f"{name}.csv", ["left_id", "right_id", "label", "score"], rows)
    return paths


def _write(path: Path, header: list[str], rows: Iterable[Sequence[object]]) -> Path:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
