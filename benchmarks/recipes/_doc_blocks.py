"""Run a recipe page's marked bash blocks, so a runner measures exactly what the page tells a
user to type.

A page marks a block with an HTML comment on the line before its fence: `<!-- recipe-test: ...
-->` for the recipe (also run by its test, see tests/recipes/_docs.py) and `<!-- recipe-baseline:
... -->` for the non-learned baseline. The runner swaps the blocks' `NAME=value` lines (data
folder, seed, fold, work folder, epochs) and runs them with bash `-euo pipefail`, the virtual
environment's `simsearch` first on the PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def doc_block(page: str, marker: str = "recipe-test") -> str:
    """The bash block after the `<!-- marker: ... -->` comment of docs/recipes/PAGE."""
    text = (ROOT / "docs" / "recipes" / page).read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker}:[^\n]*-->\n```bash\n(.*?)\n```", text, re.S)
    if found is None:
        raise ValueError(f"Expected a bash block marked {marker} in docs/recipes/{page}")
    return found.group(1)


def set_variables(script: str, values: dict[str, object]) -> str:
    """Replace each `NAME=...` line of the block (exactly one per name) by `NAME=value`."""
    for name, value in values.items():
        script, count = re.subn(rf"^{name}=.*$", f"{name}={value}", script, flags=re.M)
        if count != 1:
            raise ValueError(f"Expected one line {name}=... in the block. Received: {count}")
    return script


def run_bash(script: str, cwd: Path = ROOT) -> tuple[str, float]:
    """Run the block; return its stdout and wall time in minutes (raising on a failure)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    start = time.perf_counter()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"The block failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done.stdout, (time.perf_counter() - start) / 60
