"""`simsearch train --pairs --catalog IMAGES --tower image`: labelled image pairs over an image
catalogue whose ids are the images' relative paths, as `build-index` and `serve --catalog` name
them. Pairs come from real labels: Omniglot characters, SigComp2009 writers and forgeries."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from simsearch.cli import cli
from simsearch.datasets import omniglot_sample

SIGNATURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "signatures"
SIGCOMP = SIGNATURES / "sigcomp2009_nisdcc_preview"
TINY = ["--epochs", "2", "--steps-per-epoch", "2", "--batch-size", "16", "--head-epochs", "1", "--quiet"]


def write_characters(root: Path, characters: int = 6, drawings: int = 5) -> dict[str, str]:
    """The first `drawings` drawings of the first `characters` characters of the bundled
    Omniglot background sample as a class-folder tree of PNGs; returns id -> its character."""
    arrays = np.load(omniglot_sample("background"))
    classes = list(dict.fromkeys(arrays["labels"].tolist()))[:characters]
    written = {}
    for name in classes:
        rows = np.flatnonzero(arrays["labels"] == name)[:drawings]
        for row in rows:
            item_id = f"{arrays['ids'][row]}.png"
            (root / item_id).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(arrays["images"][row]).save(root / item_id)
            written[item_id] = str(name)
    return written


def pairs_from_labels(labels: dict[str, str]) -> list[tuple[str, str, int]]:
    """Every two items of one class (label 1) and as many of two classes (label 0), the
    different pairs spread over the class pairs in a fixed order."""
    ids = sorted(labels)
    both = list(itertools.combinations(ids, 2))
    same = [(a, b, 1) for a, b in both if labels[a] == labels[b]]
    different = [(a, b, 0) for a, b in both if labels[a] != labels[b]]
    step = max(1, len(different) // len(same))
    return same + different[::step][: len(same)]


def write_pair_file(path: Path, pairs: list[tuple[str, str, int]]) -> Path:
    path.write_text("left_id,right_id,label\n" + "".join(f"{a},{b},{y}\n" for a, b, y in pairs))
    return path


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_train_on_omniglot_pairs_saves_loads_and_compares(tmp_path: Path) -> None:
    folder = tmp_path / "drawings"
    labels = write_characters(folder)
    train = {k: v for k, v in labels.items() if not k.endswith(("03.png", "04.png"))}
    held_out = {k: v for k, v in labels.items() if k not in train}
    pairs = write_pair_file(tmp_path / "train.csv", pairs_from_labels(train))
    valid = write_pair_file(tmp_path / "valid.csv", pairs_from_labels(held_out))
    out = tmp_path / "model"
    result = invoke(
        *("train", "--pairs", str(pairs), "--valid-pairs", str(valid), "--catalog", str(folder)),
        *("--tower", "image", "--invert", "--filters", "8", "--embedding-dim", "16", "--out", str(out)),
        *TINY,
    )
    assert "Saved image model" in result.output  # type: ignore[attr-defined]
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "image" and config["inputs"] == {"image_size": [28, 28], "channels": 1}
    assert config["pairs"] == {"train": 36, "validation": 12}  # per character 3 and 1 same pairs
    assert config["training"]["loss"] == "bce"

    from simsearch.models import SiameseModel

    model = SiameseModel.load(out)
    assert model.kind == "image"
    first, second = sorted(held_out)[:2]
    result = invoke("compare", "--model", str(out), "--json", str(folder / first), str(folder / second))
    report = json.loads(result.output)  # type: ignore[attr-defined]
    assert report["distance"] >= 0.0 and 0.0 <= report["probability"] <= 1.0


def test_unknown_image_ids_are_refused_before_tensorflow_loads(tmp_path: Path) -> None:
    folder = tmp_path / "drawings"
    labels = write_characters(folder, characters=2, drawings=3)
    known = sorted(labels)
    rows = [(known[0], known[1], 1), ("Balinese/character01/00", known[2], 0)]  # without .png
    rows += [(known[0], "elsewhere/Balinese/character01/01.png", 1)]
    pairs = write_pair_file(tmp_path / "pairs.csv", rows)
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from simsearch.cli import cli\n"
        f"args = ['train', '--pairs', {str(pairs)!r}, '--catalog', {str(folder)!r}, '--tower', 'image',"
        f" '--out', {str(tmp_path / 'model')!r}]\n"
        "r = CliRunner().invoke(cli, args)\n"
        "print(r.exit_code)\n"
        "print(r.output.strip())\n"
        "print('tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    code_line, message, tensorflow = out.stdout.strip().splitlines()[-3:]
    assert (code_line, tensorflow) == ("1", "False")
    assert message.startswith("Error: Expected every left_id in ")
    assert "Received: 1 unknown, e.g. ['Balinese/character01/00']" in message
    assert f"the left items hold 6 ids, e.g. {known[:3]}" in message
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--catalog", "."], "Expected one --catalog (the image folder, .zip or .npz the pair ids name)"),
        (["--fields", "name"], "Received: --fields"),
        (["--architecture", "linear"], "Received: --architecture linear"),
    ],
    ids=["two-catalogues", "fields", "linear"],
)
def test_image_pair_options_are_checked(tmp_path: Path, extra: list[str], message: str) -> None:
    folder = tmp_path / "drawings"
    write_characters(folder, characters=2, drawings=2)
    pairs = write_pair_file(tmp_path / "pairs.csv", [])
    args = ["train", "--pairs", str(pairs), "--catalog", str(folder), "--tower", "image", "--out", "m"]
    result = CliRunner().invoke(cli, [*args, *extra])
    assert result.exit_code == 1 and message in result.output, result.output


def test_an_image_catalogue_must_not_be_a_table(tmp_path: Path) -> None:
    table = tmp_path / "items.csv"
    table.write_text("id,name\n1,a\n")
    pairs = write_pair_file(tmp_path / "pairs.csv", [("1", "1", 1)])
    args = ["train", "--pairs", str(pairs), "--catalog", str(table), "--tower", "image", "--out", "m"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "Expected an image folder, .zip or .npz as the image catalogue. Received: a table" in result.output


def signature_pairs(writers: range) -> list[tuple[str, str, int]]:
    """Per writer: two of their genuine signatures (label 1), and a genuine one with a skilled
    forgery of it (label 0); ids are paths relative to the sample's folder."""
    rows = []
    for w in writers:
        genuine = [f"{w:03d}{w:03d}_{n:03d}.png" for n in range(5)]
        forged = [f"forged/021{w:03d}_{n:03d}.png" for n in range(5)]
        rows += [(a, b, 1) for a, b in itertools.combinations(genuine, 2)]
        rows += [(a, b, 0) for a, b in zip(genuine, forged, strict=True)]
        rows += [(a, b, 0) for a, b in zip(genuine, forged[1:] + forged[:1], strict=True)]
    return rows


@pytest.mark.skipif(not SIGCOMP.is_dir(), reason="needs ../shared/data/signatures (not in a fresh clone)")
def test_train_on_genuine_and_forged_signature_pairs(tmp_path: Path) -> None:
    pairs = write_pair_file(tmp_path / "train.csv", signature_pairs(range(1, 9)))
    valid = write_pair_file(tmp_path / "valid.csv", signature_pairs(range(9, 13)))
    out = tmp_path / "model"
    result = invoke(
        *("train", "--pairs", str(pairs), "--valid-pairs", str(valid), "--catalog", str(SIGCOMP)),
        *("--tower", "image", "--image-size", "32", "--invert", "--filters", "8"),
        *("--embedding-dim", "16", "--out", str(out)),
        *TINY,
    )
    assert "Saved image model" in result.output  # type: ignore[attr-defined]
    config = json.loads((out / "config.json").read_text())
    assert config["inputs"] == {"image_size": [32, 32], "channels": 3}  # colour scans
    assert config["pairs"] == {"train": 160, "validation": 80}
    result = invoke(
        "compare",
        *("--model", str(out), "--json"),
        *(str(SIGCOMP / "009009_000.png"), str(SIGCOMP / "forged" / "021009_000.png")),
    )
    assert json.loads(result.output)["distance"] >= 0.0  # type: ignore[attr-defined]
