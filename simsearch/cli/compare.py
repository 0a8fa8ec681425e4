"""`simsearch compare`: distance, head probability and decision for two items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from simsearch.cli._common import json_record
from simsearch.errors import DataError


@click.command()
@click.option("--model", "model_dir", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.argument("a")
@click.argument("b")
def compare(model_dir: Path, a: str, b: str, as_json: bool) -> None:
    """Compare items A and B: two image paths, two texts, or two JSON records ('{"name": ...}').

    Prints the distance, the head's probability of "same" and the decision at the calibrated
    threshold.
    """
    from simsearch.models.siamese import SiameseModel

    model = SiameseModel.load(model_dir)
    left, right = _item(a, model.kind), _item(b, model.kind)
    result = model.compare(left, right)
    payload = {
        "distance": result.distance,
        "probability": result.probability,
        "same": result.same,
        "decided_by": result.decided_by,
        "metric": model.metric,
        "threshold": result.threshold,
    }
    if as_json:
        click.echo(json.dumps(payload, indent=2))
        return
    verdict = "SAME" if result.same else "DIFFERENT"
    click.echo(f"distance ({model.metric}): {result.distance:.4f}")
    click.echo(f"head probability:   {result.probability:.4f}")
    click.echo(
        f"decision:           {verdict} by {result.decided_by} "
        f"(calibrated thresholds: {_thresholds(result.threshold)})"
    )


def _item(value: str, kind: str) -> Any:
    if kind == "image":
        path = Path(value)
        if not path.is_file():
            raise DataError(f"Expected an image file for the image model. Received: '{value}' (no such file)")
        return str(path)
    if kind == "record":
        return json_record(value, "the record model")
    return value


def _thresholds(threshold: dict[str, Any]) -> str:
    parts = []
    if threshold.get("probability") is not None:
        parts.append(f"probability >= {threshold['probability']:.4f}")
    if threshold.get("distance") is not None:
        parts.append(f"distance <= {threshold['distance']:.4f}")
    return ", ".join(parts) or "none"
