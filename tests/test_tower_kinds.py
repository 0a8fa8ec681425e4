"""The tower kinds' TensorFlow-free table: it imports without Keras, refuses unknown kinds, and
is the one place that tells kinds apart by name."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import simsearch
from simsearch.errors import ConfigError
from simsearch.tower_kinds import TOWER_KINDS, TOWERS, tower_kind

PACKAGE = Path(simsearch.__file__).parent
# A kind name compared with a string: `kind == "image"`, `kind in ("image", "face")`,
# `options["tower"] != "record"`, `"face" == kind`; not a field type's `t.kind == "text"`.
_NAMES = "|".join(TOWERS)
KIND_TEST = re.compile(
    rf"""(?<!\bt\.)(kind|tower)\b["'\]]*\)?\s*(==|!=|\bin\b|\bnot in\b)\s*\(?\s*["']({_NAMES})["']"""
    rf"""|["']({_NAMES})["']\s*(==|!=)"""
)


def test_table_imports_without_tensorflow() -> None:
    code = (
        "import sys, simsearch.tower_kinds as t\n"
        "assert t.tower_kind('face').is_image and not t.tower_kind('record').is_image\n"
        "loaded = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "print(loaded)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_unknown_kind_is_refused_naming_the_kinds() -> None:
    expected = (
        r"Expected tower to be one of \['image', 'text', 'record', 'lm_record', 'face'\]. "
        r"Received: tower='audio'"
    )
    with pytest.raises(ConfigError, match=expected):
        tower_kind("audio")
    with pytest.raises(ConfigError, match="Received: tower=None"):
        tower_kind(None)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("image", (True, False, "image", True, False, True)),
        ("text", (False, False, "text", False, False, True)),
        ("record", (False, False, "record", False, True, True)),
        ("lm_record", (False, False, "record", False, True, True)),
        ("face", (True, True, "image", False, False, False)),
    ],
    ids=TOWERS,
)
def test_properties_the_rest_of_simsearch_asks(kind: str, expected: tuple[object, ...]) -> None:
    """What the 40 tests of kind names this table replaced asked, kind by kind."""
    k = tower_kind(kind)
    assert (k.is_image, k.finds_faces, k.item, k.augments, k.typed_fields, k.trains_on_pairs) == expected


def test_every_kind_module_has_settings_build_prepare_blank() -> None:
    for kind in TOWER_KINDS.values():
        module = kind.implementation()
        assert all(callable(getattr(module, name, None)) for name in ("build", "prepare", "blank")), kind.name
        assert dataclasses.is_dataclass(kind.settings_class()), kind.name


def test_the_language_model_kind_trains_with_its_own_defaults_over_the_tf_idf_baseline() -> None:
    kind = tower_kind("lm_record")
    assert dict(kind.train_defaults)["loss"] == "supcon"
    settings = {"text_fields": ["name"], "numeric_fields": ["price"], "sequence_length": 64}
    expected = {"text_fields": ["name"], "numeric_fields": ["price"], "architecture": "linear"}
    assert kind.baseline_settings(settings) == expected
    assert kind.baseline_settings({"architecture": "linear"}) is None  # the baseline itself
    assert tower_kind("record").train_defaults == ()


def test_kind_names_are_compared_only_in_the_registry() -> None:
    """A new kind is one module and one line: no other module tests a kind's name."""
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "tower_kinds.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if KIND_TEST.search(line)
    ]
    assert found == []


def test_the_guard_sees_a_kind_test() -> None:
    for line in ('if kind in ("image", "face"):', 'options["tower"] != "record"', 'model.kind == "text"'):
        assert KIND_TEST.search(line), line
    for line in ('if t.kind == "text":', 'partition.kind == "csv"', 'kind = "image"'):
        assert not KIND_TEST.search(line), line
