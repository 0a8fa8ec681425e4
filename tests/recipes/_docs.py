"""Run a recipe page's command block as a user would, so the docs cannot drift from the code.

A page marks its block with an HTML comment `<!-- recipe-test: ... -->` on the line before the
fence. The test swaps the `DATA=` line for a slice of the real data and shrinks the training
(`--epochs 1`, few steps), then runs the block with bash, `set -euo pipefail`, in a temporary
folder, with the virtual environment's `simsearch` first on the PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"


def recipe_block(page: str) -> str:
    """The bash block after the page's `recipe-test` marker."""
    text = (ROOT / "docs" / "recipes" / page).read_text(encoding="utf-8")
    found = re.search(r"<!-- recipe-test:[^\n]*-->\n```bash\n(.*?)\n```", text, re.S)
    if found is None:
        raise AssertionError(f"Expected a bash block marked recipe-test in docs/recipes/{page}")
    return found.group(1)


def shrink(script: str, variables: dict[str, str], epochs: int = 1, steps: int = 3) -> str:
    """Point the block's variables at the slice and cut its training to a few steps."""
    for name, value in variables.items():
        script, count = re.subn(rf"^{name}=.*$", f"{name}={value}", script, flags=re.M)
        if count != 1:
            raise AssertionError(f"Expected one line {name}=... in the recipe block. Received: {count}")
    script = re.sub(r"--epochs \d+", f"--epochs {epochs}", script)
    return re.sub(r"--steps-per-epoch \d+", f"--steps-per-epoch {steps}", script)


def run_block(script: str, cwd: Path) -> str:
    """Run the block with bash -euo pipefail; return its stdout (failing the test on an error)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"The recipe block failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout
