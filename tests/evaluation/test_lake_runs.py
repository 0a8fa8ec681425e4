"""Lake et al.'s official runs, read from the real all_runs.zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from simsearch.errors import ConfigError, DataError
from simsearch.evaluation.lake_runs import load_lake_runs
from simsearch.evaluation.oneshot import lake_runs_accuracy

# tests/conftest.py belongs to another module; this file keeps its own path to the shared data.
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ALL_RUNS = SHARED_DATA / "omniglot" / "all_runs.zip"

needs_all_runs = pytest.mark.skipif(
    not ALL_RUNS.is_file(), reason=f"Lake's all_runs.zip not found at {ALL_RUNS}"
)


@pytest.fixture(scope="module")
def runs():
    if not ALL_RUNS.is_file():
        pytest.skip(f"Lake's all_runs.zip not found at {ALL_RUNS}")
    return load_lake_runs(ALL_RUNS)


def test_twenty_runs_of_twenty_trials(runs):
    assert [run.name for run in runs] == [f"run{i:02d}" for i in range(1, 21)]
    for run in runs:
        assert run.support.shape == run.queries.shape == (20, 105, 105, 1)
        assert run.support.dtype == run.queries.dtype == np.float32
        assert run.answer.dtype == np.int64
        assert sorted(run.answer.tolist()) == list(range(20))  # a permutation


def test_pixels_keep_the_png_convention(runs):
    pixels = np.concatenate([np.r_[run.support, run.queries] for run in runs])
    assert set(np.unique(pixels).tolist()) == {0.0, 1.0}
    assert pixels.mean() > 0.85  # mostly white background (1), thin ink strokes (0)


def test_first_answers_of_run01(runs):
    # class_labels.txt: item01 -> class08, item02 -> class09, item03 -> class02.
    assert runs[0].answer[:3].tolist() == [7, 8, 1]


def test_pixel_nearest_neighbour_beats_chance(runs):
    # Raw pixels get about 19% here; with misaligned answers it would be near 5% (20 of 400).
    result = lake_runs_accuracy(lambda x: x.reshape(len(x), -1), runs)
    assert result.n_trials == 400 and result.n_way == 20
    assert result.correct >= 50


@needs_all_runs
def test_resize_uses_a_box_filter():
    resized = load_lake_runs(ALL_RUNS, image_size=(28, 21))
    assert len(resized) == 20
    support = resized[0].support
    assert support.shape == (20, 28, 21, 1) and support.dtype == np.float32
    assert support.min() >= 0.0 and support.max() <= 1.0
    assert len(np.unique(support)) > 2  # averaged grey levels at stroke edges


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"readable all_runs\.zip"):
        load_lake_runs(tmp_path / "nope.zip")


def test_not_a_zip_is_a_data_error(tmp_path):
    path = tmp_path / "all_runs.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match=r"readable all_runs\.zip"):
        load_lake_runs(path)


def test_archive_without_runs_is_a_data_error(tmp_path):
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    with pytest.raises(DataError, match=r"class_labels\.txt"):
        load_lake_runs(path)


def test_labels_that_miss_an_item_are_a_data_error(tmp_path):
    path = tmp_path / "broken.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in (
            "run01/training/class01.png",
            "run01/test/item01.png",
            "run01/test/item02.png",
        ):
            archive.writestr(name, b"")
        archive.writestr(
            "run01/class_labels.txt", "run01/test/item01.png run01/training/class01.png\n"
        )
    with pytest.raises(DataError, match=r"2 test images.*1 lines in run01"):
        load_lake_runs(path)


@pytest.mark.parametrize("size", [(0, 28), (28,)], ids=["zero", "one_dim"])
def test_bad_image_size(size):
    with pytest.raises(ConfigError, match="image_size"):
        load_lake_runs("all_runs.zip", image_size=size)
