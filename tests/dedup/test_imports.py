"""`import simsearch.dedup` needs numpy and FAISS only."""

from __future__ import annotations

import subprocess
import sys

import simsearch.dedup


def test_public_names_resolve() -> None:
    assert all(hasattr(simsearch.dedup, name) for name in simsearch.dedup.__all__)


def test_import_does_not_pull_tensorflow() -> None:
    code = (
        "import sys, simsearch.dedup; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
