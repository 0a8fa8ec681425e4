"""docs/recipes/signatures.md, run on the real SigComp2009 sample (fold 0), with numpy oracles."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from ._docs import SHARED, recipe_block, run_block, shrink

SIGNATURES = SHARED / "signatures" / "sigcomp2009_nisdcc_preview"
pytestmark = pytest.mark.skipif(
    not SIGNATURES.is_dir(), reason="needs ../shared/data/signatures (not in a fresh clone)"
)


def _crossing_eer(label: np.ndarray, distance: np.ndarray) -> float:
    """EER by sweeping every distance as the threshold: where false accepts of forgeries and
    false rejects of genuine pairs cross, halfway between the two rates there."""
    best = (2.0, 0.0)
    for t in np.unique(distance):
        far = float((distance[label == 0] <= t).mean())
        frr = float((distance[label == 1] > t).mean())
        best = min(best, (abs(far - frr), (far + frr) / 2))
    return best[1]


@pytest.mark.slow  # a recipe end to end on real data (1-5 min on 2 cores); its steps are unit-tested
def test_signatures_recipe_runs_as_documented(tmp_path: Path) -> None:
    from simsearch.data.loaders import load_items
    from simsearch.evaluation.evaluate import pair_distances
    from simsearch.models.siamese import SiameseModel

    run_block(shrink(recipe_block("signatures.md"), {"DATA": str(SIGNATURES)}, epochs=1, steps=2), tmp_path)
    run = tmp_path / "runs" / "signatures" / "seed0" / "fold0"
    parts = json.loads((run / "split" / "split.json").read_text())["parts"]
    assert [len(parts[p]["identities"]) for p in ("train", "val", "test")] == [7, 2, 3]
    assert parts["test"]["forgeries"] == 15 and parts["test"]["images"] == 30

    with (run / "split" / "pairs.csv").open() as handle:
        pairs = list(csv.DictReader(handle))
    assert sum(p["kind"] == "genuine" for p in pairs) == 3 * 10  # C(5, 2) per writer
    assert sum(p["kind"] == "skilled" for p in pairs) == 3 * 25  # 5 genuine x 5 forgeries
    assert all(p["left_id"].split("/")[1] == "genuine" for p in pairs)

    report = json.loads((run / "verification.json").read_text())["pairs (tower distance)"]
    with (run / "scores.csv").open() as handle:
        scores = list(csv.DictReader(handle))
    assert [(s["left_id"], s["right_id"], s["label"]) for s in scores] == [
        (p["left_id"], p["right_id"], p["label"]) for p in pairs
    ]
    label = np.array([int(s["label"]) for s in scores])
    distance = np.array([float(s["distance"]) for s in scores])

    # Oracle 1: the distances, from the saved model and the test images, in numpy.
    model = SiameseModel.load(run / "model")
    test = load_items(run / "split" / "test", image_size=(64, 64), labelled=False)
    embeddings = dict(zip(test.ids.tolist(), model.encode(test.images), strict=True))
    expected = pair_distances(
        np.stack([embeddings[s["left_id"]] for s in scores]),
        np.stack([embeddings[s["right_id"]] for s in scores]),
        model.metric,
    )
    np.testing.assert_allclose(distance, expected, atol=1e-4)
    # Oracle 2: accuracy at the stored threshold and the EER, from the scores.
    threshold = model.threshold["distance"]
    assert report["accuracy"] == pytest.approx(((distance <= threshold) == (label == 1)).mean())
    assert report["n_pairs"] == 105 and report["n_positive"] == 30
    # within one step of the false-reject rate (30 genuine pairs) of the interpolated EER
    assert report["eer"] == pytest.approx(_crossing_eer(label, distance), abs=1 / 30)
    assert (run / "plots" / "roc_distance.png").stat().st_size > 1000
