"""`import simsearch.evaluation` stays light."""

from __future__ import annotations

import subprocess
import sys

import simsearch.evaluation


def test_public_names_resolve():
    assert all(hasattr(simsearch.evaluation, name) for name in simsearch.evaluation.__all__)


def test_import_does_not_pull_heavy_libraries():
    code = (
        "import sys, simsearch.evaluation; "
        "print(sorted(m for m in ('matplotlib', 'sklearn', 'tensorflow', 'keras', 'faiss', 'PIL') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
