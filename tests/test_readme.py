"""The README's Python snippets run as written, in order, in one namespace, in a fresh folder,
against the Omniglot sample shipped in the package. A block whose first line is `# needs: ...`
names an artefact the sample cannot give (a trained cross-encoder) and is skipped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks() -> list[str]:
    return [block for block in _BLOCK.findall(README.read_text()) if not block.startswith("# needs:")]


def test_the_readme_has_python_blocks() -> None:
    assert len(python_blocks()) >= 4


def test_readme_python_blocks_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, block in enumerate(python_blocks(), 1):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"README python block {number} failed:\n{block}") from exc
