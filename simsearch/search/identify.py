"""Open-set identification of one query from its hits: the nearest enrolled item's identity
when it is close enough, else "unknown".

    decide(hits, threshold) -> Identity(identity, distance, accepted, threshold, nearest_id, ...)
    choose_threshold(...)   -> the distance threshold: given, for a precision or a false-accept
                               rate on held-out pairs, stored at enrolment, or the calibrated one
    enrol(curves, max_far, gallery_size)    -> the threshold an index keeps (`enrol --max-far`)
    enrolled_threshold(enrolment, curves, gallery_size) -> that threshold at the index's size now
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from simsearch.errors import ConfigError, ModelDirError
from simsearch.search.hits import Hit

__all__ = [
    "UNKNOWN",
    "Identity",
    "choose_threshold",
    "decide",
    "enrol",
    "enrolled_threshold",
    "far_threshold",
    "hit_identity",
    "per_comparison_far",
]

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Identity:
    """The answer for one query.

    Attributes:
        identity: the enrolled identity (a person), or `"unknown"`.
        distance: distance to the nearest enrolled item (inf when the index is empty).
        accepted: whether that distance is at most the threshold.
        threshold: the distance threshold the decision used.
        nearest_id: id of the nearest enrolled item (None when the index is empty).
        nearest_identity: its identity, accepted or not.
    """

    identity: str
    distance: float
    accepted: bool
    threshold: float
    nearest_id: Any = None
    nearest_identity: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields."""
        return dict(self.__dict__)


def hit_identity(hit: Hit) -> str:
    """An enrolled item's identity: its stored `label`, else the folder of its id (`s1/3.pgm` -> `s1`)."""
    label = (hit.metadata or {}).get("label")
    return str(label) if label is not None else PurePosixPath(str(hit.id)).parent.as_posix()


def decide(hits: Sequence[Hit], threshold: float) -> Identity:
    """Accept the nearest hit's identity when its distance is at most `threshold`.

    Example:
        >>> decide([Hit("ann/1.jpg", 0.3, None, {"label": "ann"})], 0.5).identity
        'ann'
        >>> decide([Hit("ann/1.jpg", 0.7, None, {"label": "ann"})], 0.5).identity
        'unknown'
    """
    if not hits:
        return Identity(UNKNOWN, float("inf"), False, float(threshold))
    nearest = min(hits, key=lambda h: h.distance)
    name = hit_identity(nearest)
    accepted = nearest.distance <= threshold
    return Identity(
        identity=name if accepted else UNKNOWN,
        distance=float(nearest.distance),
        accepted=bool(accepted),
        threshold=float(threshold),
        nearest_id=nearest.id,
        nearest_identity=name,
    )


def per_comparison_far(max_far: float, gallery_size: int) -> float:
    """The false-accept rate per comparison that keeps the share of strangers accepted at
    `max_far` when each is compared with `gallery_size` enrolled items (independent comparisons:
    `1 - (1 - max_far) ** (1 / gallery_size)`, about `max_far / gallery_size`).

    Example:
        >>> round(per_comparison_far(0.01, 10), 6)
        0.001005
    """
    if not 0.0 <= max_far < 1.0:
        raise ConfigError(f"Expected max_far in [0, 1). Received: max_far={max_far}")
    return float(1.0 - (1.0 - max_far) ** (1.0 / max(int(gallery_size), 1)))


def choose_threshold(
    calibrated: Mapping[str, Any],
    curves: Mapping[str, Any],
    stored: float | None = None,
    *,
    threshold: float | None = None,
    min_precision: float | None = None,
    max_far: float | None = None,
    gallery_size: int = 1,
) -> float:
    """The distance threshold of identification, by the first rule that applies: `threshold`;
    the one for `min_precision` or `max_far` (at most one of the three) on the model's held-out
    pairs (`curves["distance"]`, `curves["far"]`); the one `stored` at enrolment; the model's
    `calibrated["distance"]` (best F1).

    `max_far` is the share of strangers (people never enrolled) accepted as someone, per
    identification: a stranger is compared with each of the `gallery_size` enrolled items, so
    each comparison must false-accept at most `per_comparison_far(max_far, gallery_size)`.

    Raises:
        ConfigError: more than one of threshold, min_precision and max_far.
        DataError: no stored curve for min_precision / max_far, or no threshold reaching it.
        ModelDirError: nothing given, stored or calibrated.
    """
    from simsearch.evaluation.metrics import threshold_for_precision

    given = {"threshold": threshold, "min_precision": min_precision, "max_far": max_far}
    named = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
    if len(named) > 1:
        raise ConfigError(
            f"Expected one of --threshold, --min-precision or --max-far, not both. Received: {named}"
        )
    if threshold is not None:
        return float(threshold)
    if min_precision is not None:
        return threshold_for_precision(list(curves.get("distance") or []), float(min_precision))
    if max_far is not None:
        return far_threshold(curves, float(max_far), gallery_size)
    if stored is not None:
        return float(stored)
    if calibrated.get("distance") is None:
        raise ModelDirError("Expected a calibrated distance threshold in the model. Received: none")
    return float(calibrated["distance"])


def far_threshold(curves: Mapping[str, Any], max_far: float, gallery_size: int) -> float:
    """The distance threshold at which a share `max_far` of strangers is accepted per
    identification against `gallery_size` enrolled items, from the model's held-out impostor
    pairs (`curves["far"]`, `per_comparison_far`)."""
    from simsearch.evaluation.metrics import threshold_for_far

    return threshold_for_far(dict(curves.get("far") or {}), per_comparison_far(max_far, gallery_size))


def enrol(curves: Mapping[str, Any], max_far: float, gallery_size: int) -> dict[str, Any]:
    """The identification setting an index keeps (`enrol --max-far`): `{"max_far", "threshold",
    "n_impostor"}`, the threshold for `max_far` at `gallery_size` enrolled items."""
    threshold = far_threshold(curves, max_far, gallery_size)
    return {"max_far": max_far, "threshold": threshold, "n_impostor": (curves.get("far") or {})["n_impostor"]}


def enrolled_threshold(
    enrolment: Mapping[str, Any], curves: Mapping[str, Any], gallery_size: int
) -> float | None:
    """The distance threshold an index keeps (`enrol`), if any: for its `max_far` at the index's
    current size `gallery_size` when the model has its impostor curve (an index that grows needs
    a stricter threshold for the same share of strangers accepted), else the stored one."""
    max_far = enrolment.get("max_far")
    if max_far is not None and (curves.get("far") or {}).get("rows"):
        return far_threshold(curves, float(max_far), gallery_size)
    value = enrolment.get("threshold")
    return None if value is None else float(value)
