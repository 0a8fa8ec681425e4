"""`simsearch compare`: distance, head probability and decision for two items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import json_record
from simsearch.data.records import check_records, input_fields
from simsearch.errors import DataError
from simsearch.model_config import read_config
from simsearch.tower_kinds import tower_kind


@click.command()
@click.option("--model", "model_dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option(
    "--reranker",
    type=click.Path(exists=True, path_type=Path),
    help="A cross-encoder directory (`simsearch train-reranker`): also its score of the pair, "
    "fused with the distance when it was fitted with this model, and its decision.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Also say which fields and words moved the decision (text and record models): per field "
    "whether it agrees, its similarity alone and how much dropping it changes the distance (or the "
    "head's probability when the head decides).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("a")
@click.argument("b")
def compare(model_dir: Path, a: str, b: str, as_json: bool, reranker: Path | None, explain: bool) -> None:
    """Compare items A and B: two image paths, two texts, or two JSON records ('{"name": ...}').

    Prints the distance, the head's probability of "same" and the decision at the calibrated
    threshold (with --reranker, the cross-encoder's score and decision too; with --explain, one
    line per field, those that moved the decision first: "title agrees 0.93 (+0.12)" is the
    titles' similarity alone and how much they pulled the pair together).
    """
    config = read_config(model_dir)  # the items are checked before TensorFlow loads
    if explain and tower_kind(config.get("kind")).is_image:
        raise DataError(
            f"Expected a text or record model with --explain. Received: a model of kind {config['kind']!r}"
        )
    left, right = (_item(value, config) for value in (a, b))
    from simsearch.models.siamese import SiameseModel

    model = SiameseModel.load(model_dir)
    result = model.compare(left, right)
    payload: dict[str, Any] = {
        "distance": result.distance,
        "probability": result.probability,
        "same": result.same,
        "decided_by": result.decided_by,
        "metric": model.metric,
        "threshold": result.threshold,
    }
    if reranker is not None:
        payload["reranker"] = _rerank(reranker, model_dir, left, right, result.distance, model.kind)
    explanation = None
    if explain:
        head = result.decided_by == "head probability"
        (explanation,) = model.explain_pairs([left], [right], same=result.same, head=head)
        payload["explain"] = explanation.as_dict()
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    verdict = "SAME" if result.same else "DIFFERENT"
    click.echo(f"distance ({model.metric}): {result.distance:.4f}")
    trained = model.config.get("head", {}).get("trained", True)
    label = "head probability:" if trained else "head score:"
    note = "" if trained else " (head not trained: not a calibrated probability)"
    click.echo(f"{label:<20}{result.probability:.4f}{note}")
    click.echo(
        f"decision:           {verdict} by {result.decided_by} "
        f"(calibrated thresholds: {_thresholds(result.threshold)})"
    )
    if reranker is not None:
        cross = payload["reranker"]
        verdict = "" if cross["same"] is None else f" -> {'SAME' if cross['same'] else 'DIFFERENT'}"
        click.echo(
            f"{cross['name'] + ':':<20}{cross['score']:.4f}"
            + (f" (threshold {cross['threshold']:.4f}){verdict}" if cross["threshold"] is not None else "")
        )
    if explanation is not None:
        click.echo(f"why (change in {explanation.by}, + pulls the pair together; first what moved it most):")
        for line in explanation.lines():
            click.echo(f"  {line}")


def _rerank(path: Path, model_dir: Path, left: Any, right: Any, distance: float, kind: str) -> dict[str, Any]:
    from simsearch.models.cross import CrossEncoder

    if tower_kind(kind).is_image:
        raise DataError(f"Expected a text or record model with --reranker. Received: an {kind} model")
    cross = CrossEncoder.load(path)
    a = cross.texts({k: [v] for k, v in left.items()} if isinstance(left, dict) else [left])
    b = cross.texts({k: [v] for k, v in right.items()} if isinstance(right, dict) else [right])
    fused = cross.fitted_with(model_dir)
    score = float(cross.score(a, b, [distance] if fused else None)[0])
    threshold, _ = cross.calibration(fused)
    return {
        "name": "cross-encoder + tower" if fused else "cross-encoder",
        "score": score,
        "threshold": threshold,
        "same": None if threshold is None else score >= float(threshold),
    }


def _item(value: str, config: dict[str, Any]) -> Any:
    kind = tower_kind(config.get("kind"))
    if kind.is_image:
        path = Path(value)
        if not path.is_file():
            raise DataError(f"Expected an image file for the image model. Received: '{value}' (no such file)")
        return str(path)
    if kind.item == "record":
        record = json_record(value, "the record model")
        return check_records([record], input_fields(config.get("inputs", {})))[0]
    return value


def _thresholds(threshold: dict[str, Any]) -> str:
    parts = []
    if threshold.get("probability") is not None:
        parts.append(f"probability >= {threshold['probability']:.4f}")
    if threshold.get("distance") is not None:
        parts.append(f"distance <= {threshold['distance']:.4f}")
    return ", ".join(parts) or "none"
