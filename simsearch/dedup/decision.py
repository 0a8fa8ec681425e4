"""`Decision`: which scorer keeps a candidate pair, at which threshold, and why.

One choice for `dedup`, `match` and `evaluate --pairs` (its `"decision"` section measures on
labelled pairs the rule the jobs would apply). The scorer is the model's pairwise head when it
decides (it was trained and beat the distance on held-out data, `head_decides`), a cross-encoder
when one is given, else the distance. The threshold, in order of precedence: a fixed one, the
loosest whose held-out precision reached `min_precision`, else the calibrated best-F1 one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from simsearch.errors import ConfigError, IndexFileError

__all__ = ["PAIRS_OF", "Decision", "choose_decision", "head_decides"]

logger = logging.getLogger(__name__)

Scorer = Literal["distance", "probability", "cross-encoder score"]
PAIRS_OF = {"one catalogue": "within one catalogue", "two catalogues": "across two catalogues"}


@dataclass(frozen=True)
class Decision:
    """Keep a pair when its `scorer` passes `threshold` (distance at most, a score at least).

    Attributes:
        scorer: `"distance"`, `"probability"` (the pairwise head) or `"cross-encoder score"`.
        threshold: the cut.
        rule: what the jobs print: the rule, where its threshold comes from and on which pairs.
    """

    scorer: Scorer
    threshold: float
    rule: str

    @property
    def rerank(self) -> bool:
        """Whether pairs are re-scored (by the head or a cross-encoder)."""
        return self.scorer != "distance"

    def keeps(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """`(n,)` whether pairs of these distances (or scores) are kept."""
        x = np.asarray(values, dtype=np.float64)
        return x <= self.threshold if self.scorer == "distance" else x >= self.threshold


def head_decides(head: Mapping[str, Any]) -> bool:
    """The model's own rule from its `config["head"]` (or the index manifest's copy): its head
    decides when it was trained and beat the distance on held-out data."""
    return bool(head.get("decides", head.get("rerank_default", False)))


def choose_decision(
    threshold: Mapping[str, Any],
    curves: Mapping[str, Any],
    *,
    rerank: bool,
    chosen: bool = False,
    reranker: bool = False,
    fixed: float | None = None,
    min_precision: float | None = None,
    calibrated_on: str | None = None,
    pairs_of: str = "one catalogue",
) -> Decision:
    """The decision of a dedup (`pairs_of="one catalogue"`) or match (`"two catalogues"`).

    Args:
        threshold: the stored thresholds by scorer (`{"distance", "probability"}`, or
            `{"cross-encoder score"}` with `reranker`).
        curves: the stored held-out `[threshold, precision, recall]` rows by scorer.
        rerank: whether pairs are re-scored (`head_decides`, unless `chosen`).
        chosen: `rerank` was chosen by the user (`--rerank/--no-rerank`), not by the model.
        reranker: a cross-encoder re-scores (with `rerank`).
        fixed: a threshold given (`--threshold`).
        min_precision: the held-out precision the threshold must reach (`--min-precision`).
        calibrated_on: the kind of pairs the model was calibrated on (`config["calibrated_on"]`).
        pairs_of: the kind of pairs searched.

    Raises:
        ConfigError: both `fixed` and `min_precision`.
        IndexFileError: no threshold given and none stored.
        DataError: no stored threshold reaching `min_precision`.
    """
    scorer: Scorer = "distance" if not rerank else "cross-encoder score" if reranker else "probability"
    value, rule = _threshold(scorer, threshold, curves, fixed, min_precision)
    if fixed is None:
        rule = _provenance(rule, calibrated_on, pairs_of)
    if not chosen and not reranker:
        rule = (
            f"the head decides (it beat the distance on held-out data): {rule}"
            if rerank
            else f"the distance decides (the head did not beat it on held-out data): {rule}"
        )
    if reranker and fixed is None:
        value = min(max(value, 0.0), 1.0)  # a fused score's calibrated cut; its scores are clipped
    return Decision(scorer, value, rule)


def _threshold(
    key: str,
    threshold: Mapping[str, Any],
    curves: Mapping[str, Any],
    fixed: float | None,
    min_precision: float | None,
) -> tuple[float, str]:
    sign = "<=" if key == "distance" else ">="
    if fixed is not None and min_precision is not None:
        raise ConfigError("Expected --threshold or --min-precision, not both. Received: both")
    if fixed is not None:
        return float(fixed), f"{key} {sign} {float(fixed):.4g}"
    if min_precision is not None:
        return _precision_rule(key, sign, curves.get(key) or [], float(min_precision), threshold)
    if threshold.get(key) is None:
        raise IndexFileError(
            f"Expected a calibrated {key} threshold stored with the index. Received: none; "
            "pass --threshold or --min-precision"
        )
    value = float(threshold[key])
    return value, f"{key} {sign} {value:.4g}, calibrated"


def _precision_rule(
    key: str, sign: str, curve: list[list[float]], min_precision: float, threshold: Mapping[str, Any]
) -> tuple[float, str]:
    """--min-precision's threshold and a rule that says what the held-out pairs show of it: the
    precision and recall there and at the next looser stored threshold, or that they cannot
    resolve it (every stored threshold keeps it), and when it is the calibrated threshold."""
    from simsearch.evaluation.metrics import precision_cut, unresolved_precision

    cut = precision_cut(curve, min_precision)
    rule = (
        f"{key} {sign} {cut.threshold:.4g}, held-out precision >= {min_precision:g} "
        f"({cut.precision:.4f} at recall {cut.recall:.4f}"
    )
    if cut.resolved:
        rule += f"; the next looser threshold falls to {cut.looser_precision:.4f})"
    else:
        logger.warning(unresolved_precision(cut, min_precision) + "; pass --threshold for another")
        rule += "; NOT resolved by the held-out pairs: the loosest stored threshold)"
    if threshold.get(key) is not None and abs(float(threshold[key]) - cut.threshold) <= 1e-6:
        rule += ", the same as the calibrated threshold"
    return cut.threshold, rule


def _provenance(rule: str, calibrated_on: str | None, pairs_of: str) -> str:
    """The rule's label with the pairs its threshold was calibrated on, and a warning when they
    are of another kind than the pairs searched: precision measured on pairs across two
    catalogues says little about near-duplicates inside one (colour and size variants), and the
    other way round."""
    if calibrated_on is None:
        return f"{rule} (on held-out pairs of a kind the model does not record)"
    there, here = PAIRS_OF.get(calibrated_on, calibrated_on), PAIRS_OF[pairs_of]
    if calibrated_on == pairs_of:
        return f"{rule} on held-out pairs {there}"
    logger.warning(
        "The threshold was calibrated on pairs %s, not %s as searched here: its precision may not "
        "hold. Check a sample of the pairs, or pass --threshold",
        there,
        here,
    )
    return f"{rule} on pairs {there}: NOT verified on pairs {here}"
