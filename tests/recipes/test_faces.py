"""docs/recipes/faces.md, run on a slice of the real ORL faces, with a brute-force oracle."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path, PurePosixPath

import h5py
import numpy as np
import pytest

from simsearch.data.faces import dlib_available
from simsearch.evaluation.metrics import threshold_for_far

from ._docs import SHARED, recipe_block, run_block, shrink

ORL = SHARED / "faces" / "att_orl_faces"
pytestmark = [
    pytest.mark.skipif(not ORL.is_dir(), reason="needs ../shared/data/faces (not in a fresh clone)"),
    pytest.mark.skipif(not dlib_available(), reason="needs dlib and face-recognition-models (make install)"),
]
PEOPLE, PHOTOS = 20, 6  # the slice: 20 people, their first 6 photos


def _slice(target: Path) -> None:
    for person in range(1, PEOPLE + 1):
        (target / f"s{person}").mkdir(parents=True)
        for photo in range(1, PHOTOS + 1):
            shutil.copy(ORL / f"s{person}" / f"{photo}.pgm", target / f"s{person}" / f"{photo}.pgm")


@pytest.mark.slow  # a recipe end to end on real data (1-5 min on 2 cores); its steps are unit-tested
def test_faces_recipe_runs_as_documented(tmp_path: Path) -> None:
    from simsearch.data.loaders import load_items
    from simsearch.evaluation.evaluate import pair_distances
    from simsearch.models.siamese import SiameseModel

    _slice(tmp_path / "orl")
    script = shrink(recipe_block("faces.md"), {"DATA": str(tmp_path / "orl")}, epochs=1, steps=2)
    # The slice has 10 training-side people: 4 of them held out, as 8 of 20 in the full recipe,
    # and 6 to train on, 4 of them per batch.
    script = script.replace("--val 8", "--val 4").replace("--classes-per-batch 8", "--classes-per-batch 4")
    out = run_block(script, tmp_path)
    run = tmp_path / "runs" / "faces" / "seed0"
    split = json.loads((run / "split" / "split.json").read_text())["parts"]
    parts = ("train", "val", "test", "gallery", "probes")
    assert [len(split[p]["identities"]) for p in parts] == [6, 4, 10, 5, 10]
    assert not set(split["train"]["identities"]) & set(split["test"]["identities"])
    assert "threshold" in out and "Enrolled 5 photos of 5 people" in out

    model = SiameseModel.load(run / "model")
    assert model.kind == "face" and model.config["validation"]["chosen"] in ("baseline", "trained")
    unseen = json.loads((run / "unseen.json").read_text())
    for section in ("pairs (tower distance)", "one-shot", "retrieval"):
        assert section in unseen
    assert 0.0 <= unseen["pairs (tower distance)"]["eer"] <= 1.0
    assert unseen["one-shot"]["accuracy"] >= 0.8  # 10-way here; dlib's descriptor, chance is 0.1
    plots = ("neighbours.png", "identification_neighbours.png", "identification_roc.png", "roc_distance.png")
    for png in plots:
        assert (run / "plots" / png).stat().st_size > 1000

    # Oracle: every probe against every enrolled photo by brute force in numpy, at the threshold
    # `enrol --max-far 0.001` stored in the index.
    report = json.loads((run / "open_set.json").read_text())["identification (open set)"]
    probes = load_items(run / "split" / "probes")
    with h5py.File(run / "index" / "items.h5") as stored:
        xb, ids = stored["embeddings"][:], [i.decode() for i in stored["ids"][:]]
    threshold = json.loads((run / "index" / "manifest.json").read_text())["extra"]["identify"]["threshold"]
    assert threshold == pytest.approx(threshold_for_far(model.calibration["far"], 0.001))
    gallery_class = np.array([PurePosixPath(i).parent.as_posix() for i in ids])
    probe_class = np.array([probes.classes[label] for label in probes.labels])
    d = pair_distances(model.encode(probes.images)[:, None, :], xb[None, :, :], model.metric)
    nearest, top1 = d.argmin(axis=1), d.min(axis=1)
    enrolled = np.isin(probe_class, gallery_class)
    right = gallery_class[nearest] == probe_class
    assert report["n_probes"] == len(probes) == 5 * (PHOTOS - 1) + 5 * PHOTOS
    assert report["n_enrolled_probes"] == enrolled.sum() == 5 * (PHOTOS - 1)
    assert report["threshold"] == pytest.approx(threshold)
    assert report["rank_1"] == pytest.approx(right[enrolled].mean())
    assert report["false_accept_rate"] == pytest.approx((top1[~enrolled] <= threshold).mean())
    assert report["detection_identification_rate"] == pytest.approx(
        (right & (top1 <= threshold))[enrolled].mean()
    )

    with (run / "hits.csv").open() as handle:
        hits = [r for r in csv.DictReader(handle) if r["rank"] == "1"]
    assert len(hits) == len(probes)
    by_id = {r["query_id"]: r for r in hits}
    for i, probe_id in enumerate(probes.ids):
        assert by_id[probe_id]["id"] == ids[nearest[i]]
        assert float(by_id[probe_id]["distance"]) == pytest.approx(top1[i], abs=1e-4)
