"""The audit's case end to end: `train --pairs --tower record` on a SYNTHETIC bibliographic CSV
whose cells hold U+0085 (next line), U+2028/U+2029, control characters and NFD forms writes a
model that `build-index` and `query` read."""

from __future__ import annotations

import csv
import json
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from simsearch.cli import cli

from .test_cli import TINY

TITLES = [
    "Über die Zahl", "Café society", "Smith, J.\x85Oxford", "Le\u2028Monde", "Náufrago", "Ökonomie",
    "Résumé\u2029notes", "Tabs\tand lines", "Zoë's garden", "Crème brûlée", "x\x1cy studies", "Año nuevo",
]  # fmt: skip


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow  # a whole (tiny) pairs training through the CLI: ~1 min on a busy 2-core machine
def test_train_on_odd_unicode_writes_a_model_that_loads(tmp_path: Path) -> None:
    n = len(TITLES)
    catalog = tmp_path / "works.csv"
    with catalog.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "place"])
        for i, title in enumerate(TITLES):
            writer.writerow([i, title, "Oxford\x85UK"])
        for i, title in enumerate(TITLES):
            writer.writerow([n + i, unicodedata.normalize("NFD", title) + " (2nd ed.)", "Oxford\u2028UK"])
    rows = [f"{i},{n + i},1" for i in range(n)] + [f"{i},{n + (i + 3) % n},0" for i in range(n)]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("left_id,right_id,label\n" + "\n".join(rows) + "\n")
    model, index = tmp_path / "model", tmp_path / "index"
    invoke("train", "--pairs", str(pairs), "--valid-pairs", str(pairs), "--catalog", str(catalog),
           "--tower", "record", "--fields", "title,place", "--loss", "bce", "--out", str(model),
           *TINY)  # fmt: skip
    assert not (tmp_path / "model.invalid").exists()
    invoke("build-index", "--model", str(model), "--catalog", str(catalog), "--index", str(index))
    query = json.dumps({"title": "Smith, J.\u2028Oxford", "place": "Oxford\x85UK"})
    out = invoke("query", "--index", str(index), "--record", query, "-k", "1", "--json")
    assert json.loads(out)["hits"][0]["id"] in (2, 2 + n)
