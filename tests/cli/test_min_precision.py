"""`dedup --min-precision` acts wherever the stored precision curve resolves it, and says so
where it cannot: hand-built curves over the tiny record index's own pair distances."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from simsearch.cli import cli
from tests.conftest import RecordIndex


@pytest.fixture()
def cuts(record_index: RecordIndex, tmp_path: Path) -> tuple[Path, list[float]]:
    """A copy of the record index and thresholds that exactly 1, 2, ... 6 of its pairs pass
    (halfway between successive pair distances, by numpy)."""
    from simsearch.index import load_index

    index = shutil.copytree(record_index.index_dir, tmp_path / "index")
    x = load_index(index).get(load_index(index).ids)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = np.sort((1.0 - x @ x.T)[np.triu_indices(len(x), 1)])
    return index, [float((d[n - 1] + d[n]) / 2) for n in range(1, 7)]


def _store(index: Path, curve: list[list[float]], calibrated: float) -> None:
    manifest = json.loads((index / "manifest.json").read_text())
    manifest["extra"]["calibration"] = {"distance": curve}
    manifest["extra"]["threshold"] = {"distance": calibrated}
    manifest["extra"]["rerank_default"] = False
    (index / "manifest.json").write_text(json.dumps(manifest))


def _dedup(index: Path, out: Path, *args: str) -> tuple[int, str, int]:
    result = CliRunner().invoke(cli, ["dedup", "--index", str(index), "--out", str(out), *args])
    pairs = len(out.read_text().splitlines()) - 1 if out.exists() else -1
    return result.exit_code, result.output, pairs


def test_min_precision_changes_the_pairs_where_the_curve_resolves_it(
    cuts: tuple[Path, list[float]], tmp_path: Path
) -> None:
    index, t = cuts
    # Precision 1.0 up to full held-out recall at t[1], then falling as negatives come in.
    curve = [[t[0], 1.0, 0.5], [t[1], 1.0, 1.0], [t[2], 0.97, 1.0], [t[3], 0.9, 1.0], [t[5], 0.8, 1.0]]
    _store(index, curve, calibrated=t[1])
    expected = {"1.0": 2, "0.99": 2, "0.95": 3, "0.85": 4, "0.8": 6}
    found = {}
    for precision in expected:
        code, output, found[precision] = _dedup(
            index, tmp_path / f"{precision}.csv", "--min-precision", precision
        )
        assert code == 0, output
    assert found == expected
    _, output, _ = _dedup(index, tmp_path / "a.csv", "--min-precision", "0.99")
    assert (
        f"distance <= {t[1]:.4g}, held-out precision >= 0.99 (1.0000 at recall 1.0000; the next looser "
        "threshold falls to 0.9700), the same as the calibrated threshold" in output
    )
    _, output, _ = _dedup(index, tmp_path / "b.csv", "--min-precision", "0.95")
    assert "falls to 0.9000)" in output and "the same as the calibrated" not in output


def test_min_precision_says_when_the_curve_cannot_resolve_it(
    cuts: tuple[Path, list[float]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index, t = cuts
    _store(index, [[t[0], 1.0, 0.5], [t[1], 1.0, 1.0]], calibrated=t[1])  # flat at 1.0, as before
    code, output, pairs = _dedup(index, tmp_path / "p.csv", "--min-precision", "0.95")
    assert code == 0 and pairs == 2
    assert "cannot resolve precision 0.95: every stored threshold keeps it" in caplog.text
    assert "NOT resolved by the held-out pairs: the loosest stored threshold)" in output
    _store(index, [[t[0], 0.9, 0.5], [t[1], 0.8, 1.0]], calibrated=t[1])  # never reaching 0.95
    code, output, pairs = _dedup(index, tmp_path / "q.csv", "--min-precision", "0.95")
    assert code == 1 and pairs == -1
    assert (
        "Expected a threshold reaching precision >= 0.95 on held-out pairs. Received: best held-out "
        "precision 0.9000" in output
    )
