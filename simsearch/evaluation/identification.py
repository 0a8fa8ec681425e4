"""Open-set identification: probes searched against a gallery of enrolled identities.

Each probe's nearest gallery items are given (their classes and distances); a probe is accepted
as its top-1 hit's identity when that distance is at most the threshold, and rejected as
unknown otherwise. Probes whose class is enrolled should be accepted with the right identity;
probes of people never enrolled should be rejected. Terms as in face-recognition evaluations
(Grother and Phillips's FRVT reports): rank-k identification rate (closed set, threshold
ignored), detection-and-identification rate (DIR), false-accept rate (FAR) of non-enrolled
probes, false-reject rate of enrolled ones. numpy only.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simsearch.errors import DataError

__all__ = ["identification_metrics"]


def identification_metrics(
    probe_classes: Sequence[str] | npt.NDArray[Any],
    hit_classes: Sequence[Sequence[str]] | npt.NDArray[Any],
    hit_distances: npt.ArrayLike,
    gallery_classes: Collection[str],
    threshold: float,
    ks: Sequence[int] = (1, 5),
) -> dict[str, Any]:
    """Score open-set identification at a distance threshold.

    Args:
        probe_classes: `(n,)` the true class of each probe.
        hit_classes: `(n, k)` classes of each probe's nearest gallery items, nearest first.
        hit_distances: `(n, k)` their distances (lower = more similar).
        gallery_classes: the enrolled classes; a probe of another class should be rejected.
        threshold: accept a probe when its top-1 distance is at most this.
        ks: the ranks of the rank-k identification rates.

    Returns:
        `n_probes`, `n_enrolled_probes`, `n_unknown_probes`, `rank_<k>` (share of enrolled probes
        with their identity among the top k; threshold ignored), `detection_identification_rate`
        (enrolled probes accepted as the right identity), `false_reject_rate` (enrolled probes
        rejected), `misidentification_rate` (enrolled probes accepted as someone else),
        `false_accept_rate` (non-enrolled probes accepted), `open_set_accuracy` (probes given
        the right answer, an identity or "unknown") and `threshold`. Rates over no probes are
        None.

    Example:
        >>> report = identification_metrics(["a", "x"], [["a"], ["a"]], [[0.1], [0.9]], {"a"}, 0.5)
        >>> report["open_set_accuracy"], report["false_accept_rate"]
        (1.0, 0.0)
    """
    probes = np.asarray(probe_classes, dtype=object).reshape(-1)
    classes = np.asarray(hit_classes, dtype=object)
    distances = np.asarray(hit_distances, dtype=np.float64)
    if classes.ndim != 2 or distances.shape != classes.shape or len(classes) != len(probes):
        raise DataError(
            "Expected hit classes and distances of shape (n_probes, k). Received: "
            f"probes={probes.shape}, classes={classes.shape}, distances={distances.shape}"
        )
    if len(probes) == 0 or classes.shape[1] == 0:
        raise DataError(f"Expected at least one probe and one hit each. Received: shape={classes.shape}")
    enrolled = np.isin(probes, list(gallery_classes))
    accepted = distances[:, 0] <= threshold
    right = classes[:, 0] == probes
    known, unknown = int(enrolled.sum()), int((~enrolled).sum())
    report: dict[str, Any] = {
        "n_probes": len(probes),
        "n_enrolled_probes": known,
        "n_unknown_probes": unknown,
        "n_gallery_classes": len(set(gallery_classes)),
    }
    for k in ks:
        found = (classes[:, :k] == probes[:, None]).any(axis=1)
        report[f"rank_{k}"] = _share(found & enrolled, known)
    report["detection_identification_rate"] = _share(enrolled & accepted & right, known)
    report["false_reject_rate"] = _share(enrolled & ~accepted, known)
    report["misidentification_rate"] = _share(enrolled & accepted & ~right, known)
    report["false_accept_rate"] = _share(~enrolled & accepted, unknown)
    correct = np.where(enrolled, accepted & right, ~accepted)
    report["open_set_accuracy"] = float(correct.mean())
    report["threshold"] = float(threshold)
    return report


def _share(mask: npt.NDArray[np.bool_], total: int) -> float | None:
    return float(mask.sum() / total) if total else None
