"""docs/recipes/omniglot.md, run on the bundled Omniglot sample and the real official trials."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from simsearch.datasets import omniglot_sample

from ._docs import SHARED, recipe_block, run_block, shrink

RUNS = SHARED / "omniglot" / "all_runs.zip"
pytestmark = pytest.mark.skipif(not RUNS.is_file(), reason="needs ../shared/data/omniglot/all_runs.zip")


@pytest.mark.slow  # a recipe end to end on real data (1-5 min on 2 cores); its steps are unit-tested
def test_omniglot_recipe_runs_as_documented(tmp_path: Path) -> None:
    data = tmp_path / "omniglot"
    data.mkdir()
    for split in ("background", "evaluation"):
        shutil.copy(omniglot_sample(split), data / f"omniglot_images_{split}.npz")
    shutil.copy(RUNS, data / "all_runs.zip")

    out = run_block(shrink(recipe_block("omniglot.md"), {"DATA": str(data)}), tmp_path)

    report = json.loads((tmp_path / "runs/omniglot/report.json").read_text())
    official = report["official one-shot runs"]
    assert official["trials"] == 400
    assert official["ci95"][0] <= official["accuracy"] <= official["ci95"][1]
    assert report["one-shot"]["n_trials"] == 1000
    assert (tmp_path / "runs/omniglot/plots/projection.png").stat().st_size > 0
    # The query's own drawing is left out; its hits are other catalogue ids.
    ids = set(np.load(data / "omniglot_images_evaluation.npz")["ids"].tolist())
    hits = re.findall(r"^\s+\d+\s+(\S+)\s+\d+\.\d+", out, flags=re.M)
    assert len(hits) == 5 and "Angelic/character01/00" not in hits and set(hits) <= ids
    groups = list(csv.DictReader((tmp_path / "runs/omniglot/groups.csv").read_text().splitlines()))
    assert {g["id"] for g in groups} == ids
