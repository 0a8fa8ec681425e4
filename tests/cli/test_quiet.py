"""Quiet by default: no TensorFlow start-up log unless --verbose, and help text as written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from simsearch.cli import cli
from tests.conftest import RecordIndex


@pytest.mark.parametrize("inherited", [None, "2"], ids=["no-env", "ci-env-2"])
def test_a_query_prints_no_tensorflow_log(record_index: RecordIndex, inherited: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update({} if inherited is None else {"TF_CPP_MIN_LOG_LEVEL": inherited})
    args = ["query", "--index", str(record_index.index_dir), "--id", "0", "-k", "2"]
    out = subprocess.run(
        [sys.executable, "-m", "simsearch", *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    assert "query: 0" in out.stdout


def test_help_texts_show_no_doubled_percent_signs() -> None:
    for name in cli.commands:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "%%" not in result.output, name
