"""`simsearch prepare-pairs`: a sentence-pair corpus as a catalogue and train / valid / test pair files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import encoding_option, table_encoding
from simsearch.errors import ConfigError

_PATH = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("prepare-pairs")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["mrpc", "stsb", "sick", "table"]),
    required=True,
    help="mrpc, stsb (STS Benchmark), sick, or table: any file with a header (name the columns).",
)
@click.option("--input", "inputs", type=_PATH, multiple=True, help="A file that holds its own splits (SICK).")
@click.option("--train", type=_PATH, help="Training pairs.")
@click.option("--valid", type=_PATH, help="Held-out pairs (default: --valid-fraction of --train).")
@click.option("--test", type=_PATH, help="Test pairs.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write."
)
@click.option("--left-column", help="table: first sentence column.")
@click.option("--right-column", help="table: second sentence column.")
@click.option("--label-column", help="table: 0/1 label column (1 = paraphrase / duplicate).")
@click.option("--score-column", help="table: graded similarity column.")
@click.option(
    "--positive-at",
    type=float,
    help="Graded score at or above which a pair is labelled 1 (default 4.0 for stsb and sick).",
)
@click.option("--valid-fraction", type=float, default=0.1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@encoding_option
def prepare_pairs(**options: Any) -> None:
    """Write OUT/catalog.csv (id, text: each distinct sentence once) and OUT/train.csv, valid.csv,
    test.csv (left_id, right_id, label, score), ready for `simsearch train --pairs`.

    \b
    MRPC:   simsearch prepare-pairs --format mrpc --train msr_paraphrase_train.txt \\
                --test msr_paraphrase_test.txt --out data/mrpc
    STS-B:  simsearch prepare-pairs --format stsb --train sts-train.csv --valid sts-dev.csv \\
                --test sts-test.csv --out data/stsb
    SICK:   simsearch prepare-pairs --format sick --input SICK.txt --out data/sick
    """
    from simsearch.data.text_pairs import prepare_text_pairs, read_text_pairs, write_text_pairs

    named = {s: options[s] for s in ("train", "valid", "test") if options[s]}
    if not named and not options["inputs"]:
        raise ConfigError("Expected --input or --train/--test files. Received: none")
    columns = {
        "left": options["left_column"],
        "right": options["right_column"],
        "label": options["label_column"],
        "score": options["score_column"],
        "positive_at": options["positive_at"],
    }
    splits: dict[str, list[Any]] = {}
    sources = [(None, path) for path in options["inputs"]] + list(named.items())
    for split, path in sources:
        for name, pairs in read_text_pairs(
            path, options["format_"], **columns, encoding=table_encoding()
        ).items():
            splits.setdefault(split or name, []).extend(pairs)
    table = prepare_text_pairs(splits, valid_fraction=options["valid_fraction"], seed=options["seed"])
    paths = write_text_pairs(table, options["out"])
    counts = ", ".join(f"{name} {len(pairs)} pairs" for name, pairs in table.splits.items())
    click.echo(f"Wrote {len(table.texts)} sentences to {paths['catalog']}; {counts}")
