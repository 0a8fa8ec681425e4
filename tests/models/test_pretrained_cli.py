"""`simsearch train --architecture pretrained / hybrid`, then build-index and query, with a
SYNTHETIC tiny BERT written to a temporary directory (the real weights are not needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("tokenizers", reason="the pretrained extra (tokenizers) is not installed")
pytest.importorskip("safetensors", reason="the pretrained extra (safetensors) is not installed")

from simsearch.cli import cli

from .test_pretrained import write_tiny_bert

TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "16", "--head-epochs", "1", "--quiet"]
# SYNTHETIC catalogue: each b item is its a twin with a word changed.
WORDS = ["red", "blue", "black", "white"]
THINGS = ["ipad", "tv", "laptop", "case"]


def _catalogues(tmp_path: Path) -> tuple[Path, Path, Path]:
    names = [f"{w} {t} {n} gb" for w in WORDS for t in THINGS for n in "123"]
    left, right, pairs = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "pairs.csv"
    left.write_text("id,title,brand\n" + "".join(f"a{i},{n},sony\n" for i, n in enumerate(names)))
    right.write_text("id,title,brand\n" + "".join(f"b{i},{n} pro,\n" for i, n in enumerate(names)))
    rows = [f"a{i},b{i},1" for i in range(len(names))] + [
        f"a{i},b{(i + 5) % len(names)},0" for i in range(len(names))
    ]
    pairs.write_text("left_id,right_id,label\n" + "\n".join(rows) + "\n")
    return left, right, pairs


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    ("tower", "architecture", "dim"),
    [
        pytest.param("text", "pretrained", 16, marks=pytest.mark.slow, id="text"),  # ~20 s; unit-tested
        pytest.param("record", "hybrid", 512 + 16, marks=pytest.mark.slow, id="hybrid"),  # ~3 min
    ],
)
def test_train_index_and_query_with_a_pretrained_encoder(
    tmp_path: Path, tower: str, architecture: str, dim: int
) -> None:
    encoder = tmp_path / "tiny_bert"
    write_tiny_bert(encoder)
    left, right, pairs = _catalogues(tmp_path)
    model, index = tmp_path / "model", tmp_path / "index"
    invoke(
        "train", "--pairs", str(pairs), "--catalog", str(left), "--catalog", str(right),
        "--tower", tower, "--fields", "title,brand", "--architecture", architecture,
        "--pretrained", str(encoder), "--freeze-layers", "1", "--sequence-length", "16",
        "--encoder-learning-rate", "3e-5", "--out", str(model), "--no-baseline-check", *TINY,
    )  # fmt: skip  (the plumbing is under test: a 1-epoch tower would lose to its baseline)
    config = json.loads((model / "config.json").read_text())
    assert config["dim"] == dim
    settings = config["tower_settings"]
    assert (settings["architecture"], settings["pretrained"]) == (architecture, str(encoder))
    assert (settings["freeze_layers"], settings["sequence_length"]) == (1, 16)
    default_lr = 1e-2 if architecture == "hybrid" else 1e-3
    assert (config["training"]["learning_rate"], config["training"]["encoder_learning_rate"]) == (
        default_lr,
        3e-5,
    )
    invoke("build-index", "--model", str(model), "--catalog", str(left), "--index", str(index))
    hits = json.loads(
        invoke("query", "--index", str(index), "--id", "a0", "-k", "3", "--json").splitlines()[0]
    )
    assert len(hits["hits"]) == 3 and all(h["id"] != "a0" for h in hits["hits"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--tower", "record", "--pretrained", "x"],
            "Expected --architecture pretrained (text) or hybrid (record) with --pretrained",
        ),
        (
            ["--tower", "text", "--architecture", "pretrained", "--pretrained", "/nowhere"],
            "Expected a pretrained encoder name in",
        ),
        (
            ["--tower", "text", "--architecture", "hybrid"],
            "Expected --architecture in ['linear', 'sequence', 'pretrained']",
        ),
    ],
    ids=["pretrained-without-encoder", "missing-directory", "hybrid-is-for-records"],
)
def test_encoder_options_are_checked(tmp_path: Path, args: list[str], message: str) -> None:
    left, right, pairs = _catalogues(tmp_path)
    base = [
        "train",
        "--pairs",
        str(pairs),
        "--catalog",
        str(left),
        "--catalog",
        str(right),
        "--fields",
        "title",
    ]
    result = CliRunner().invoke(cli, [*base, *args, "--out", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert message in result.output
