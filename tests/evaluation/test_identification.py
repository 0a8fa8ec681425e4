"""Open-set identification metrics against a loop over the probes (the definitions, written out)."""

from __future__ import annotations

import numpy as np
import pytest

from simsearch.errors import DataError
from simsearch.evaluation.identification import identification_metrics


def test_hand_built_case() -> None:
    probes = ["a", "a", "b", "x", "y"]
    classes = [["a", "b"], ["b", "a"], ["b", "a"], ["a", "b"], ["b", "a"]]
    distances = [[0.1, 0.5], [0.2, 0.3], [0.9, 1.0], [0.4, 0.6], [0.8, 0.9]]
    report = identification_metrics(probes, classes, distances, {"a", "b"}, threshold=0.5, ks=(1, 2))
    assert report["n_enrolled_probes"] == 3 and report["n_unknown_probes"] == 2
    assert report["rank_1"] == pytest.approx(2 / 3)  # probes 0 and 2
    assert report["rank_2"] == 1.0
    assert report["detection_identification_rate"] == pytest.approx(1 / 3)  # probe 0 only
    assert report["false_reject_rate"] == pytest.approx(1 / 3)  # probe 2 (0.9 > 0.5)
    assert report["misidentification_rate"] == pytest.approx(1 / 3)  # probe 1 accepted as b
    assert report["false_accept_rate"] == 0.5  # x accepted, y rejected
    assert report["open_set_accuracy"] == pytest.approx(2 / 5)  # probe 0 and y


def _loop_oracle(probes, classes, distances, gallery, t):  # type: ignore[no-untyped-def]
    known = [i for i, p in enumerate(probes) if p in gallery]
    unknown = [i for i, p in enumerate(probes) if p not in gallery]
    dir_ = sum(distances[i][0] <= t and classes[i][0] == probes[i] for i in known) / len(known)
    far = sum(distances[i][0] <= t for i in unknown) / len(unknown)
    rank1 = sum(classes[i][0] == probes[i] for i in known) / len(known)
    right = sum(distances[i][0] <= t and classes[i][0] == probes[i] for i in known)
    right += sum(distances[i][0] > t for i in unknown)
    return dir_, far, rank1, right / len(probes)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_cases_against_the_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gallery = {f"c{i}" for i in range(6)}
    probes = rng.choice([f"c{i}" for i in range(10)], 200).tolist()
    classes = rng.choice(sorted(gallery), (200, 3)).tolist()
    distances = np.sort(rng.uniform(size=(200, 3)), axis=1)
    report = identification_metrics(probes, classes, distances, gallery, threshold=0.3, ks=(1,))
    dir_, far, rank1, accuracy = _loop_oracle(probes, classes, distances, gallery, 0.3)
    assert report["detection_identification_rate"] == pytest.approx(dir_)
    assert report["false_accept_rate"] == pytest.approx(far)
    assert report["rank_1"] == pytest.approx(rank1)
    assert report["open_set_accuracy"] == pytest.approx(accuracy)


def test_rates_over_no_probes_are_none() -> None:
    report = identification_metrics(["a"], [["a"]], [[0.1]], {"a"}, threshold=0.5)
    assert report["false_accept_rate"] is None and report["rank_1"] == 1.0


def test_shape_errors() -> None:
    with pytest.raises(DataError, match="shape"):
        identification_metrics(["a", "b"], [["a"]], [[0.1]], {"a"}, 0.5)
