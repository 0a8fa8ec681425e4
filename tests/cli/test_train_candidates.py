"""`train --pairs` validates and calibrates on the held-out items' nearest neighbours too: the
counts it prints and stores, `--no-mined-negatives`, `--candidates-k 0`, and a threshold that
no longer lets in the near non-links the user's held-out pairs never showed (SYNTHETIC person
records: typo'd duplicates, and unlinked siblings sharing a surname, city and birth year)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from simsearch.cli import cli

FIRST = ["anna", "boris", "clara", "dmitri", "elena", "felix", "greta", "hugo", "irena", "jonas",
         "karla", "lukas", "marta", "nikolai", "olga", "pavel", "quinn", "rosa", "sven", "tereza",
         "ulrich", "vera", "walter", "xenia"]  # fmt: skip
LAST = ["novak", "kowalski", "horvath", "petrov", "lindqvist", "moreau", "schmidt", "rossi",
        "jansen", "dubois", "fischer", "bauer", "keller", "meyer", "wagner", "becker", "hoffmann",
        "richter", "klein", "wolf", "neumann", "schulz", "kraus", "lang"]  # fmt: skip
CITIES = ["brno", "graz", "lyon", "turin", "ghent", "bergen", "porto", "krakow"]


def _typo(text: str, i: int) -> str:
    cut = 2 + (5 * i) % (len(text) - 3)
    return text[:cut] + text[cut + 1 :]


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 people, each with a typo'd duplicate (ids p<i>, d<i>) and a sibling s<i> (another first
    name, the same surname, city and year) that no pair links; train pairs over people 0-15,
    held-out pairs over 16-23: the duplicates, and each person against another's duplicate."""
    root = tmp_path_factory.mktemp("people")
    rows = []
    for i, (first, last) in enumerate(zip(FIRST, LAST, strict=True)):
        city, year = CITIES[i % len(CITIES)], 1950 + 3 * i
        rows.append({"id": f"p{i}", "name": f"{first} {last}", "city": city, "born": str(year)})
        rows.append({"id": f"d{i}", "name": _typo(f"{first} {last}", i), "city": city, "born": str(year)})
        sibling = FIRST[(i + 7) % len(FIRST)]
        rows.append({"id": f"s{i}", "name": f"{sibling} {last}", "city": city, "born": str(year)})
    _write(root / "people.csv", rows)
    for name, people_rows in (("train", range(16)), ("valid", range(16, 24))):
        people_ids = list(people_rows)
        pairs = [(f"p{i}", f"d{i}", 1) for i in people_ids]
        pairs += [(f"p{i}", f"d{people_ids[(j + 3) % len(people_ids)]}", 0) for j, i in enumerate(people_ids)]
        _write(root / f"{name}.csv", [{"left_id": a, "right_id": b, "label": c} for a, b, c in pairs])
    return root


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _train(people: Path, out: Path, *args: str) -> tuple[str, dict[str, Any]]:
    result = CliRunner().invoke(
        cli,
        ["train", "--pairs", str(people / "train.csv"), "--valid-pairs", str(people / "valid.csv"),
         "--catalog", str(people / "people.csv"), "--tower", "record", "--fields", "name,city,born",
         "--text-fields", "born", "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16",
         "--head-epochs", "1", "--quiet", "--out", str(out), *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output, json.loads((out / "config.json").read_text())


def _sibling_distances(model_dir: Path, people: Path) -> np.ndarray:
    """The saved tower's distance from each held-out person to their sibling."""
    from simsearch.models.siamese import SiameseModel

    model = SiameseModel.load(model_dir)
    with (people / "people.csv").open() as f:
        rows = {row["id"]: row for row in csv.DictReader(f)}
    fields = ("name", "city", "born")

    def encode(ids: list[str]) -> np.ndarray:
        return model.encode({k: np.array([rows[i][k] for i in ids], object) for k in fields})

    held = range(16, 24)
    return np.asarray(model.distance(encode([f"p{i}" for i in held]), encode([f"s{i}" for i in held])))


@pytest.mark.slow
def test_mined_negatives_pull_the_threshold_below_the_near_non_links(people: Path, tmp_path: Path) -> None:
    output, config = _train(people, tmp_path / "mined")
    counts = config["threshold"]["calibrated_on"]
    assert counts["user_pairs"] == 16 and counts["mined_negatives"] > 0 and counts["k"] == 10
    mined_counts = f"{counts['mined_positives']} mined positives, {counts['mined_negatives']} mined negatives"
    line = f"16 user pairs, {mined_counts}"
    assert line in output
    assert "Validation on " in output and "Calibrated thresholds: distance <=" in output
    assert config["validation"]["held_out"]["user_pairs"] == 16
    mined = config["threshold"]["distance"]
    let_in = int((_sibling_distances(tmp_path / "mined", people) <= mined).sum())

    # The user's held-out pairs alone separate perfectly: the threshold is the middle of their
    # wide gap, where the unseen siblings fall inside.
    output, config = _train(people, tmp_path / "alone", "--candidates-k", "0")
    assert config["threshold"]["calibrated_on"] == {
        "user_pairs": 16, "mined_positives": 0, "mined_negatives": 0, "k": 0
    }  # fmt: skip
    assert "midpoint of the gap" in config["threshold"]["criterion"]
    assert "16 held-out pairs (the user's; none mined)" in output
    alone = config["threshold"]["distance"]
    assert alone > mined
    # Of the 8 held-out people's siblings, the threshold of the user's pairs alone lets in most;
    # the one calibrated on the candidates too lets in at most one (a sibling nearer than a twin).
    assert let_in <= 1 < 6 <= int((_sibling_distances(tmp_path / "alone", people) <= alone).sum())


@pytest.mark.slow
def test_no_mined_negatives_keeps_only_the_mined_positives(people: Path, tmp_path: Path) -> None:
    output, config = _train(people, tmp_path / "model", "--no-mined-negatives")
    counts = config["threshold"]["calibrated_on"]
    assert counts["mined_negatives"] == 0 and counts["mined_negatives_used"] is False
    assert "mined negatives off" in output
