"""The command line through click's CliRunner, on the bundled real sample and tiny files."""

from __future__ import annotations

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

TINY = [
    "--epochs",
    "1",
    "--steps-per-epoch",
    "3",
    "--batch-size",
    "32",
    "--classes-per-batch",
    "8",
    "--head-epochs",
    "1",
    "--quiet",
]


def invoke(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_and_argument_errors_do_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from simsearch.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0 and 'train' in r.output, r.output\n"
        "r = CliRunner().invoke(cli, ['train', '--tower', 'nope', '--out', 'x'])\n"
        "assert r.exit_code == 2 and 'nope' in r.output, r.output\n"
        "for command in ('enrol', 'identify'):\n"
        "    r = CliRunner().invoke(cli, [command, '--help'])\n"
        "    assert r.exit_code == 0 and '--on-no-face' in r.output, r.output\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, 'dlib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False False"


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--tower", "image", "--out", "m"], "Expected exactly one of --data or --pairs"),
        (["train", "--tower", "image", "--loss", "hinge", "--out", "m"], "'hinge' is not one of"),
        (
            ["train", "--data", ".", "--tower", "record", "--architecture", "koch", "--out", "m"],
            "Expected --architecture in ['linear', 'mlp', 'hybrid'] for the record tower. Received: 'koch'",
        ),
        (
            ["train", "--data", ".", "--tower", "record", "--numeric-scales", "0.3,-1", "--out", "m"],
            "Expected --numeric-scales as positive numbers or 'none'. Received: '0.3,-1'",
        ),
        (
            ["train", "--data", ".", "--tower", "text", "--numeric-scales", "0.3", "--out", "m"],
            "Expected --numeric-scales with --tower record. Received: tower='text'",
        ),
        (
            ["train", "--data", ".", "--tower", "text", "--text-fields", "zip", "--out", "m"],
            "Expected --text-fields with --tower record. Received: tower='text'",
        ),
        (
            ["evaluate", "--model", ".", "--data", ".", "--max-far", "0.01"],
            "Expected --index with --max-far (they set open-set identification's threshold)",
        ),
        (
            ["evaluate", "--model", ".", "--data", ".", "--min-precision", "0.9", "--threshold", "1"],
            "Expected --index with --threshold, --min-precision",
        ),
    ],
    ids=[
        *("no-data", "unknown-loss", "architecture-of-another-tower", "bad-scales", "scales-of-text"),
        *("text-fields-of-text", "evaluate-max-far-without-index", "evaluate-threshold-without-index"),
    ],
)
def test_bad_arguments_give_one_clean_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_one_class_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "only" / "cat"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8), i * 40, np.uint8)).save(folder / f"{i}.png")
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            str(tmp_path / "only"),
            "--tower",
            "image",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 1
    assert "Expected at least 2 classes" in result.output


def test_csv_without_named_columns_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "items.csv"
    table.write_text("id,label,name\n1,a,x\n2,b,y\n")
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            str(table),
            "--tower",
            "text",
            "--fields",
            "title",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert result.exit_code == 1
    assert "title" in result.output and "Expected" in result.output


@pytest.fixture(scope="module")
def image_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "model"
    result = invoke(
        "train",
        "--data",
        str(omniglot_sample("background")),
        "--tower",
        "image",
        "--invert",
        "--loss",
        "softmax",
        "--out",
        str(out),
        *TINY,
    )
    assert "Saved image model" in result.output  # type: ignore[attr-defined]
    return out


def test_train_writes_a_model_directory(image_model: Path) -> None:
    assert {p.name for p in image_model.iterdir()} >= {
        "tower.keras",
        "head.keras",
        "config.json",
        "history.json",
    }
    config = json.loads((image_model / "config.json").read_text())
    # a few steps may not beat raw pixels, which are then saved and searched by Euclidean distance
    pixels = config["tower_settings"]["architecture"] == "pixels"
    assert config["kind"] == "image" and config["metric"] == ("l2" if pixels else "cosine")
    assert isinstance(config["threshold"]["distance"], float)
    assert config["training"]["learning_rate"] == 1e-3  # the default for image towers


def test_evaluate_json_and_plots(image_model: Path, tmp_path: Path) -> None:
    result = invoke(
        "evaluate",
        "--model",
        str(image_model),
        "--data",
        str(omniglot_sample("evaluation")),
        "--n-way",
        "5",
        "--trials",
        "100",
        "--json",
        "--plots",
        str(tmp_path / "plots"),
    )
    report = json.loads(result.output)  # type: ignore[attr-defined]
    assert 0.2 < report["one-shot"]["accuracy"] <= 1.0  # 5-way chance is 0.2; even 3 steps beat it
    assert report["one-shot"]["n_trials"] == 100
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "average_precision"):
        assert 0.0 <= report["pairs (tower distance)"][key] <= 1.0
    assert "recall@5" in report["retrieval"]
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == sorted(
        [
            "roc_distance.png",
            "pr_distance.png",
            "roc_head.png",
            "pr_head.png",
            "distance_histogram.png",
            "projection.png",
            "neighbours.png",
        ]
    )


def test_compare_two_images(image_model: Path, tmp_path: Path) -> None:
    data = np.load(omniglot_sample("evaluation"))
    for i in (0, 1):
        Image.fromarray(data["images"][i]).save(tmp_path / f"{i}.png")
    result = invoke(
        "compare",
        "--model",
        str(image_model),
        str(tmp_path / "0.png"),
        str(tmp_path / "1.png"),
        "--json",
    )
    payload = json.loads(result.output)  # type: ignore[attr-defined]
    assert payload["distance"] >= 0.0 and 0.0 <= payload["probability"] <= 1.0
    assert isinstance(payload["same"], bool)


def test_model_from_another_version_is_refused(image_model: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(image_model, copy)
    config = json.loads((copy / "config.json").read_text())
    config["format_version"] = 999
    (copy / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["compare", "--model", str(copy), "a", "b"])
    assert result.exit_code == 1
    assert "format_version=999" in result.output


@pytest.mark.slow  # ~85 s on 2 cores; CoSENT is tested against its formula in tests/models
def test_train_on_graded_pairs_with_cosent(tmp_path: Path) -> None:
    # SYNTHETIC sentences; the score column grades each pair 0-5, as STS-B does.
    words = ["red", "blue", "green", "old", "new", "big", "small", "fast", "slow", "quiet"]
    things = ["car", "house", "dog", "phone", "chair"]
    texts = [f"the {w} {t} is here" for w in words for t in things]
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("id,text\n" + "".join(f"s{i},{t}\n" for i, t in enumerate(texts)))
    rows = []
    for i in range(len(texts)):
        rows.append(f"s{i},s{(i + 1) % len(texts)},1,{2.5 + (i % 3) / 2}")  # one word apart
        rows.append(f"s{i},s{(i + 23) % len(texts)},0,{(i % 4) / 4}")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("left_id,right_id,label,score\n" + "\n".join(rows) + "\n")
    out = tmp_path / "model"
    args = ["--pairs", str(pairs), "--catalog", str(catalog), "--tower", "text", "--fields", "text"]
    result = invoke(
        "train",
        *args,
        "--loss",
        "cosent",
        "--score-column",
        "score",
        "--threshold-criterion",
        "accuracy",
        "--out",
        str(out),
        *TINY,
    )
    assert "Saved text model" in result.output  # type: ignore[attr-defined]
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["loss"] == "cosent"
    assert config["training"]["monitor"] == "val_spearman"  # the default with graded pairs
    assert config["threshold"]["criterion"] == "best_accuracy"
    # 100 pairs: cross-validated, by the Spearman of each fold's held-out pairs.
    assert config["validation"]["split"] == "cross-validation"
    assert config["validation"]["metric"] == "val_spearman"
    bad = CliRunner().invoke(cli, ["train", *args, "--score-column", "relatedness", "--out", str(out)])
    assert bad.exit_code == 1
    assert "Expected columns ['relatedness']" in bad.output
    bad = CliRunner().invoke(
        cli, ["train", "--data", str(catalog), "--tower", "text", "--score-column", "score", "--out", "m"]
    )
    assert bad.exit_code == 1 and "Expected --pairs with --score-column" in bad.output


@pytest.mark.slow  # ~75 s on 2 cores; pair training is covered by the faster CLI tests
def test_train_on_pairs_over_two_catalogues(tmp_path: Path) -> None:
    # SYNTHETIC product strings: each right-hand item is its left twin with a typo.
    rng = np.random.default_rng(0)
    words = ["sony", "bose", "lg", "canon", "nikon", "apple", "dell", "hp", "asus", "acer"]
    kinds = ["speaker", "camera", "laptop", "monitor", "turntable", "phone"]
    names = [f"{w} {k} {rng.integers(100, 999)}" for w in words for k in kinds]
    left = tmp_path / "a.csv"
    right = tmp_path / "b.csv"
    left.write_text(
        "id,name,price\n" + "".join(f"a{i},{n},{10 + i}\n" for i, n in enumerate(names))
    )
    right.write_text(
        "id,name,price\n" + "".join(f"b{i},{n[:-1]}x,{10 + i}\n" for i, n in enumerate(names))
    )
    rows = [f"a{i},b{i},1" for i in range(len(names))] + [
        f"a{i},b{(i + 7) % len(names)},0" for i in range(len(names))
    ]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("left_id,right_id,label\n" + "\n".join(rows) + "\n")
    out = tmp_path / "model"
    result = invoke(
        "train",
        "--pairs",
        str(pairs),
        "--catalog",
        str(left),
        "--catalog",
        str(right),
        "--tower",
        "record",
        "--fields",
        "name,price",
        "--out",
        str(out),
        *TINY,
    )
    assert "Saved record model" in result.output  # type: ignore[attr-defined]
    assert "price: number (numbers under a quantity's name: 'price')" in result.output  # type: ignore[attr-defined]
    config = json.loads((out / "config.json").read_text())
    assert config["inputs"] == {"text_fields": ["name"], "numeric_fields": ["price"]}
    assert config["tower_settings"]["numeric_scales"] == [0.1, 0.3, 1.0]  # the price kernels
    # Pairs default to bce on the pair file's negatives; the linear record tower to lr 1e-2.
    assert (config["training"]["loss"], config["training"]["learning_rate"]) == ("bce", 1e-2)
    result = invoke(
        "compare",
        "--model",
        str(out),
        "--json",
        '{"name": "sony speaker 1", "price": 3}',
        '{"name": "sony speaker 2", "price": 3}',
    )
    assert 0.0 <= json.loads(result.output)["probability"] <= 1.0  # type: ignore[attr-defined]


def test_the_cli_offers_exactly_the_losses_and_towers_training_knows() -> None:
    # `--help` reads them from the TensorFlow-free `simsearch.train_config`, as training does.
    from simsearch.cli.train import train
    from simsearch.models.tower_factory import TOWERS as FACTORY_TOWERS
    from simsearch.train_config import LOSSES, TOWERS

    choices = {p.name: tuple(getattr(p.type, "choices", ())) for p in train.params}
    assert choices["loss"] == LOSSES
    assert choices["tower"] == TOWERS == FACTORY_TOWERS
