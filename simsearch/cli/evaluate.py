"""`simsearch evaluate`: pair metrics at the calibrated threshold, N-way k-shot, retrieval and
plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import (
    combine,
    echo_report,
    encoding_option,
    load_catalogs,
    load_pair_file,
    model_fields,
    split_list,
    table_encoding,
)
from simsearch.cli._identify import (
    identification_plots,
    identify,
    load_for_model,
    neighbours_plot,
    write_hits,
    write_scores,
)
from simsearch.cli._index_dir import INDEX
from simsearch.errors import ConfigError, IndexFileError
from simsearch.tower_kinds import tower_kind

_PATH = click.Path(exists=True, path_type=Path)


@click.command()
@click.option(
    "--model",
    "model_dir",
    type=_PATH,
    help="Model directory from `simsearch train` (not with --index, which names its own).",
)
@click.option(
    "--index",
    "index_dir",
    type=INDEX,
    help="Open-set identification: search each --data item (a probe) in this index (the gallery); "
    "a probe is accepted as its nearest item's class within --threshold, else rejected as unknown.",
)
@click.option(
    "--threshold",
    type=float,
    help="Distance threshold of --index identification (default: the index's from `enrol "
    "--max-far`, else the model's calibrated one).",
)
@click.option(
    "--min-precision",
    type=float,
    help="With --index: the loosest distance threshold whose held-out pair precision reached this "
    "(fewer strangers accepted, fewer enrolled people too).",
)
@click.option(
    "--max-far",
    type=float,
    help="With --index: the distance threshold for this share of strangers accepted per "
    "identification against the index's photos, from the model's held-out impostor pairs "
    "(default: the index's, from `enrol --max-far`).",
)
@click.option(
    "--hits", type=click.Path(path_type=Path), help="With --index: write every probe's hits as CSV."
)
@click.option(
    "--scores",
    type=click.Path(path_type=Path),
    help="Write each evaluated pair's distance and probability as CSV.",
)
@click.option(
    "--data",
    type=_PATH,
    help="Labelled items to evaluate on (classes unseen in training, for one-shot).",
)
@click.option("--pairs", type=_PATH, help="Labelled pairs CSV (left_id, right_id, label) to evaluate on.")
@click.option(
    "--lake-runs",
    type=_PATH,
    help="Omniglot's all_runs.zip: also score Lake et al.'s 20 official 20-way one-shot runs (with --data).",
)
@click.option("--catalog", type=_PATH, multiple=True, help="Catalogue(s) the --pairs point into.")
@click.option(
    "--score-column",
    help="Graded similarity column of --pairs (STS-B, SICK): adds Spearman and Pearson correlations.",
)
@click.option("--fields", help="Comma-separated content fields (default: the model's).")
@click.option("--n-way", type=int, default=20, show_default=True, help="Classes per one-shot trial.")
@click.option("--k-shot", type=int, default=1, show_default=True, help="Support examples per class.")
@click.option("--trials", type=int, default=1000, show_default=True, help="Random one-shot trials.")
@click.option(
    "--within-groups/--any-classes",
    default=True,
    show_default=True,
    help="Draw each trial's classes from one group (an alphabet), as in Lake's protocol.",
)
@click.option("--k", "ks", default="1,5,10", show_default=True, help="Comma-separated k of recall@k.")
@click.option(
    "--plots",
    type=click.Path(path_type=Path),
    help="Folder for the PNG plots (default: MODEL_DIR/plots).",
)
@click.option(
    "--reranker",
    type=_PATH,
    help="A cross-encoder directory (`simsearch train-reranker`): with --pairs, also report its "
    "scores of the same pairs, as 'pairs (cross-encoder)', and 'pairs (cross-encoder + tower)' "
    "when its fusion weights were fitted with this model.",
)
@click.option(
    "--pairs-out",
    type=_PATH,
    help="Score a dedup or match output (its pairs file, or its groups file: every pair within a "
    "group) against --truth: precision, recall and F1 over pairs. No model needed.",
)
@click.option(
    "--truth",
    type=_PATH,
    help="The true links of --pairs-out: pairs (left_id, right_id, and rows with label 0 left out "
    "when there is a label column) or groups (id, group); CSV, JSONL or Parquet.",
)
@click.option(
    "--ordered",
    is_flag=True,
    help="With --pairs-out: left_id and right_id name two catalogues (match's A then B, whose ids "
    "may overlap), so a link counts only in that order. Default: unordered pairs (dedup).",
)
@click.option("--no-plots", is_flag=True, help="Skip the plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--seed", type=int, default=0, show_default=True)
@encoding_option
def evaluate(model_dir: Path | None, index_dir: Path | None, **options: Any) -> None:
    """Evaluate MODEL_DIR on labelled items (--data) or labelled pairs (--pairs --catalog), an
    index on open-set identification of labelled probes (--index INDEX --data PROBES), or a dedup
    or match output against the true links (--pairs-out OUT --truth LINKS).

    With --pairs, the "decision" section is the rule dedup and match apply with this model (the
    head or the distance, and its calibrated threshold; the cross-encoder's with --reranker),
    with its precision, recall and F1 on these pairs.

    \b
    simsearch evaluate --model MODEL_DIR --pairs test.csv --catalog A.csv --catalog B.csv
    simsearch evaluate --pairs-out pairs.csv --truth links.csv      (dedup: unordered pairs)
    simsearch evaluate --pairs-out groups.csv --truth links.csv     (pairs within groups)
    simsearch evaluate --pairs-out matches.csv --truth links.csv --ordered   (match: A then B)
    """
    if options["pairs_out"] or options["truth"] or options["ordered"]:
        _score_links(model_dir, index_dir, options)
        return
    if bool(options["data"]) == bool(options["pairs"]):
        raise ConfigError(
            "Expected exactly one of --data or --pairs. Received: "
            f"data={options['data']}, pairs={options['pairs']}"
        )
    if bool(model_dir) == bool(index_dir) or (index_dir and not options["data"]):
        raise ConfigError(
            "Expected --model, or --index with --data (probes). Received: "
            f"model={model_dir}, index={index_dir}, data={options['data']}"
        )
    index_only = ("threshold", "min_precision", "max_far", "hits")
    with_index = [name for name in index_only if options[name] is not None]
    if with_index and index_dir is None:
        named = ", ".join("--" + name.replace("_", "-") for name in with_index)
        raise ConfigError(
            f"Expected --index with {named} (they set open-set identification's threshold). "
            f"Received: --model without --index; pair metrics are reported at the calibrated threshold"
        )
    if options["reranker"] and not options["pairs"]:
        raise ConfigError(f"Expected --pairs with --reranker. Received: --reranker {options['reranker']}")
    if index_dir is not None:
        _identification(index_dir, options)
        return
    assert model_dir is not None  # for mypy: checked above
    from simsearch.evaluation.evaluate import evaluate_items, evaluate_pairs
    from simsearch.models.siamese import SiameseModel

    model = SiameseModel.load(model_dir)
    fields = split_list(options["fields"]) or model_fields(model)
    head = model.config.get("head", {})
    # An untrained head's probabilities are noise around 0.5: no head tables for it.
    score_pairs = model.score_pairs if head.get("trained", True) else None
    embeddings: Any = None
    labels: Any = None
    if options["data"]:
        items = load_for_model(options["data"], model, fields)
        embeddings, labels = model.encode(items.content()), items.labels
        result = evaluate_items(
            embeddings,
            labels,
            score_pairs=score_pairs,
            metric=model.metric,
            threshold=model.threshold,
            groups=items.groups if options["within_groups"] else None,
            n_way=options["n_way"],
            k_shot=options["k_shot"],
            n_trials=options["trials"],
            ks=[int(k) for k in split_list(options["ks"]) or ["1"]],
            seed=options["seed"],
        )
        if options["lake_runs"]:
            result.report["official one-shot runs"] = _lake_runs(model, options["lake_runs"])
    else:
        left, right = _catalogs(options["catalog"], model, fields)
        catalog, offset = combine(left, right)
        pairs = load_pair_file(options["pairs"], left, right, offset)
        graded = None
        if options["score_column"]:
            from simsearch.data.loaders import load_pair_scores

            graded = load_pair_scores(options["pairs"], options["score_column"], encoding=table_encoding())
        table = model.encode(catalog.content())
        result = evaluate_pairs(
            table,
            table,
            pairs,
            score_pairs=score_pairs,
            metric=model.metric,
            threshold=model.threshold,
            graded=graded,
            ks=[int(k) for k in split_list(options["ks"]) or ["1"]],
            one_catalog=right is None,
        )
        cross = None
        if options["reranker"]:
            cross = _add_reranker(result, options["reranker"], model_dir, catalog, pairs, graded)
        _add_decision(result, model, cross, pairs_of="one catalogue" if right is None else "two catalogues")
        if options["scores"]:
            write_scores(options["scores"], catalog.ids[pairs.left], catalog.ids[pairs.right], result)
    report: dict[str, Any] = {"model": str(model_dir), **result.report}
    if score_pairs is None:
        why = head.get("reason", "no reason recorded")
        result.notes.append(f"The pairwise head was not trained ({why}): no head tables.")
    if result.notes:
        report["notes"] = " ".join(result.notes)
    if not options["no_plots"]:
        folder = options["plots"] or model_dir / "plots"
        report["plots"] = str(_write_plots(folder, result, model, embeddings, labels))
        if options["data"] and tower_kind(model.kind).is_image:
            neighbours_plot(folder, items, embeddings, model.metric)
    echo_report(report, options["as_json"])


def _score_links(model_dir: Path | None, index_dir: Path | None, options: dict[str, Any]) -> None:
    """Precision, recall and F1 of a dedup/match output's links against the true ones."""
    from simsearch.dedup import read_links
    from simsearch.evaluation.linkage import linkage_scores

    if not (options["pairs_out"] and options["truth"]):
        raise ConfigError(
            "Expected --pairs-out and --truth together (and --ordered only with them). Received: "
            f"pairs-out={options['pairs_out']}, truth={options['truth']}"
        )
    others = {"--model": model_dir, "--index": index_dir, "--data": options["data"]}
    given = [name for name, value in {**others, "--pairs": options["pairs"]}.items() if value]
    if given:
        raise ConfigError(f"Expected no model or data with --pairs-out (it scores a file). Received: {given}")
    true = read_links(options["truth"], ordered=options["ordered"])
    found = read_links(options["pairs_out"], ordered=options["ordered"])
    kind = "ordered: left_id from A, right_id from B" if options["ordered"] else "unordered pairs"
    report = {
        "pairs-out": str(options["pairs_out"]),
        "truth": str(options["truth"]),
        f"links ({kind})": linkage_scores(true, found),
    }
    echo_report(report, options["as_json"])


def _add_decision(result: Any, model: Any, cross: Any, *, pairs_of: str) -> None:
    """The `decision` section: the rule `dedup` and `match` choose with this model (with
    `--reranker`, the cross-encoder's), measured on the pairs; `cross` is `(scores the job
    keeps pairs by, threshold, curve)` of the re-ranker."""
    from simsearch.dedup.decision import choose_decision, head_decides
    from simsearch.evaluation.evaluate import add_decision

    threshold, curves = model.threshold, model.calibration
    if cross is not None:
        threshold, curves = {"cross-encoder score": cross[1]}, {"cross-encoder score": cross[2]}
    rerank = cross is not None or head_decides(model.config.get("head", {}))
    calibrated_on = None if cross is not None else model.config.get("calibrated_on")
    try:
        decision = choose_decision(
            threshold,
            curves,
            rerank=rerank,
            reranker=cross is not None,
            calibrated_on=calibrated_on,
            pairs_of=pairs_of,
        )
    except IndexFileError as exc:  # dedup and match would need --threshold
        result.report = {"decision": {"rule": None, "note": str(exc)}, **result.report}
        return
    if decision.scorer == "distance":
        values = result.distances
    elif cross is not None:
        values = cross[0]
    else:  # the head decides only when trained: its probabilities were measured
        values = result.probabilities
    add_decision(result, values, scorer=decision.scorer, threshold=decision.threshold, rule=decision.rule)


def _add_reranker(result: Any, path: Path, model_dir: Path, catalog: Any, pairs: Any, graded: Any) -> Any:
    """Add the re-ranker's sections; return `(scores, threshold, curve)` as `dedup --reranker`
    keeps pairs by them: fused with the distance when fitted with this model."""
    import numpy as np

    from simsearch.evaluation.evaluate import add_reranker
    from simsearch.models.cross import CrossEncoder
    from simsearch.search.fusion import fuse

    cross = CrossEncoder.load(path)
    texts = np.asarray(cross.texts(catalog.fields), dtype=object)
    scores = cross.predict(texts[pairs.left].tolist(), texts[pairs.right].tolist())
    add_reranker(result, scores, threshold=cross.threshold, graded=graded)
    fusion = cross.fusion
    if fusion is None:
        return (scores, *cross.calibration(False))
    if not cross.fitted_with(model_dir):
        result.notes.append(
            f"The re-ranker's fusion weights were fitted with another model ({fusion.get('model')}): "
            "only the cross-encoder alone is reported."
        )
        return (scores, *cross.calibration(False))
    fused = fuse(scores, result.distances, fusion["weights"])
    add_reranker(
        result, fused, threshold=fusion.get("threshold"), graded=graded, name="cross-encoder + tower"
    )
    return (np.clip(fused, 0.0, 1.0), *cross.calibration(True))


def _identification(index_dir: Path, options: dict[str, Any]) -> None:
    ks = split_list(options["ks"]) or ["1"]
    report, result = identify(index_dir, options["data"], {**options, "ks": ks})
    if options["hits"]:
        write_hits(options["hits"], result)
    if not options["no_plots"]:
        folder = options["plots"] or index_dir / "plots"
        gallery = options["catalog"][0] if options["catalog"] else None
        identification_plots(folder, result, gallery)
        report["plots"] = str(folder)
    echo_report(report, options["as_json"])


def _catalogs(paths: tuple[Path, ...], model: Any, fields: list[str] | None) -> tuple[Any, Any]:
    """The catalogue(s) --pairs points into: tables, or image folders for an image model."""
    if tower_kind(model.kind).catalogue != "images":
        return load_catalogs(paths, fields)
    if not 1 <= len(paths) <= 2:
        raise ConfigError(f"Expected one or two --catalog folders. Received: {len(paths)}")
    left = load_for_model(paths[0], model, None, labelled=False)
    right = load_for_model(paths[1], model, None, labelled=False) if len(paths) == 2 else None
    return left, right


def _lake_runs(model: Any, path: Path) -> dict[str, Any]:
    from simsearch.evaluation.lake_runs import load_lake_runs
    from simsearch.evaluation.oneshot import lake_runs_accuracy

    size = model.config["inputs"].get("image_size")
    if tower_kind(model.kind).catalogue != "images" or not size:
        raise ConfigError(f"Expected an image model with --lake-runs. Received: a {model.kind} model")
    result = lake_runs_accuracy(
        model.encode, load_lake_runs(path, image_size=tuple(size)), metric=model.metric
    )
    return {"accuracy": result.accuracy, "ci95": list(result.ci95), "trials": result.n_trials}


def _write_plots(folder: Path, result: Any, model: Any, embeddings: Any, labels: Any) -> Path:
    from simsearch.evaluation import plots

    folder.mkdir(parents=True, exist_ok=True)
    plots.plot_roc(result.same, -result.distances, folder / "roc_distance.png")
    plots.plot_precision_recall(result.same, -result.distances, folder / "pr_distance.png")
    plots.plot_distance_histogram(
        result.distances,
        result.same,
        folder / "distance_histogram.png",
        threshold=model.threshold.get("distance"),
    )
    if result.probabilities is not None:
        plots.plot_roc(result.same, result.probabilities, folder / "roc_head.png")
        plots.plot_precision_recall(result.same, result.probabilities, folder / "pr_head.png")
    curves = {k: v for k, v in model.history.items() if not k.startswith("head_") and len(v) > 1}
    if curves:
        plots.plot_history(curves, folder / "training_curves.png")
    if embeddings is not None:
        plots.plot_projection(embeddings, labels, folder / "projection.png", method="pca")
    return folder
