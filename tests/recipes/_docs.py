"""Run a recipe page's command block as a user would, so the docs cannot drift from the code.

A page marks its block with an HTML comment `<!-- recipe-test: ... -->` on the line before the
fence (read by `benchmarks/recipes/_doc_blocks.py`, which the benchmark runners use too). The test
swaps the block's variable lines (`DATA=` ...) for a slice of the real data and shrinks the
training (`--epochs 1`, a few steps), then runs the block with bash, `set -euo pipefail`, in a
temporary folder, with the virtual environment's `simsearch` first on the PATH.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))  # benchmarks/ is not installed with the package

from benchmarks.recipes._doc_blocks import doc_block, run_bash, set_variables  # noqa: E402


def recipe_block(page: str, marker: str = "recipe-test") -> str:
    """The bash block after the page's `marker` comment (`recipe-test` by default)."""
    return doc_block(page, marker)


def shrink(script: str, variables: dict[str, str], epochs: int = 1, steps: int = 3) -> str:
    """Point the block's variables at the slice and cut its training to a few steps."""
    script = set_variables(script, dict(variables))
    script = re.sub(r"--epochs \d+", f"--epochs {epochs}", script)
    return re.sub(r"--steps-per-epoch \d+", f"--steps-per-epoch {steps}", script)


def run_block(script: str, cwd: Path) -> str:
    """Run the block with bash -euo pipefail; return its stdout (failing the test on an error)."""
    return run_bash(script, cwd)[0]
