"""Open-set decisions of one query (`decide`) and the threshold rules (`choose_threshold`)."""

from __future__ import annotations

import pytest

from simsearch.errors import ConfigError, ModelDirError
from simsearch.evaluation.metrics import far_curve
from simsearch.search.hits import Hit
from simsearch.search.identify import UNKNOWN, choose_threshold, decide, hit_identity

HITS = [Hit("bob/2.jpg", 0.45, None, {"label": "bob"}), Hit("ann/1.jpg", 0.2, None, {"label": "ann"})]
CURVES = {
    "distance": [[0.1, 1.0, 0.2], [0.3, 0.95, 0.7]],
    "far": far_curve([1, 1, 0, 0, 0, 0], [0.1, 0.2, 0.4, 0.5, 0.6, 0.7]),
}


@pytest.mark.parametrize(
    ("threshold", "identity", "accepted"),
    [(0.5, "ann", True), (0.2, "ann", True), (0.1, UNKNOWN, False)],
    ids=["within", "at", "beyond"],
)
def test_decide_takes_the_nearest_hit(threshold: float, identity: str, accepted: bool) -> None:
    answer = decide(HITS, threshold)
    assert (answer.identity, answer.accepted) == (identity, accepted)
    assert answer.nearest_identity == "ann" and answer.nearest_id == "ann/1.jpg"
    assert answer.distance == pytest.approx(0.2) and answer.threshold == threshold


def test_decide_without_hits_and_identity_from_the_id() -> None:
    assert decide([], 0.5).identity == UNKNOWN
    assert hit_identity(Hit("s7/3.pgm", 0.1)) == "s7"


@pytest.mark.parametrize(
    ("stored", "given", "expected"),
    [
        (None, {}, 0.35),
        (0.42, {}, 0.42),
        (0.42, {"threshold": 0.25}, 0.25),
        (0.42, {"min_precision": 0.95}, 0.3),
        (0.42, {"max_far": 0.0}, 0.4 * (1 - 1e-6)),  # just below the closest impostor pair
        (0.42, {"max_far": 0.25}, 0.45),  # one of the four impostors: halfway to the next
    ],
    ids=["calibrated", "stored", "given", "precision", "far-0", "far-25%"],
)
def test_choose_threshold_rules(stored: float | None, given: dict[str, float], expected: float) -> None:
    assert choose_threshold({"distance": 0.35}, CURVES, stored, **given) == pytest.approx(expected)


def test_max_far_is_per_identification_over_the_gallery() -> None:
    """A stranger compared with 3 enrolled photos is accepted when any comparison is: for at most
    37/64 of strangers accepted, each comparison may false-accept 1 - (27/64)**(1/3) = 1/4 (the
    oracle, by hand), which is the 0.25 of the per-comparison case above."""
    from simsearch.search.identify import per_comparison_far

    assert per_comparison_far(37 / 64, 3) == pytest.approx(0.25)
    assert per_comparison_far(0.01, 1) == pytest.approx(0.01)
    given = choose_threshold({"distance": 0.35}, CURVES, max_far=37 / 64, gallery_size=3)
    assert given == pytest.approx(0.45)
    # a larger gallery needs a stricter threshold for the same share of strangers
    assert choose_threshold({"distance": 0.35}, CURVES, max_far=37 / 64, gallery_size=30) < given
    with pytest.raises(ConfigError, match="max_far"):
        per_comparison_far(1.0, 3)


def test_choose_threshold_errors() -> None:
    with pytest.raises(ConfigError, match="not both"):
        choose_threshold({"distance": 0.35}, CURVES, threshold=0.2, max_far=0.01)
    with pytest.raises(ModelDirError, match="calibrated distance threshold"):
        choose_threshold({}, {})


def test_the_enrolment_threshold_follows_the_gallery_size() -> None:
    from simsearch.search.identify import enrol, enrolled_threshold, far_threshold

    kept = enrol(CURVES, 37 / 64, 3)
    assert kept == {"max_far": 37 / 64, "threshold": pytest.approx(0.45), "n_impostor": 4}
    assert enrolled_threshold(kept, CURVES, 3) == pytest.approx(0.45)
    # The same share of strangers against a larger gallery: each comparison must accept fewer.
    assert enrolled_threshold(kept, CURVES, 30) == far_threshold(CURVES, 37 / 64, 30) < 0.45
    # Without the model's impostor curve the stored threshold holds; without either, none.
    assert enrolled_threshold(kept, {}, 30) == pytest.approx(0.45)
    assert enrolled_threshold({}, CURVES, 30) is None
