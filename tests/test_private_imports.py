"""No module of the package imports a private name (`_x`) or a private module from outside its home.

A private module (`index/_table.py`) may be imported within its own package; a private name
only within its own module (its package's `__init__` may re-export it). Imports inside
functions count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import simsearch

ROOT = Path(simsearch.__file__).resolve().parent

# Exceptions still to be moved to a public home: none left.
PENDING: set[tuple[str, str, str]] = set()


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _module_name(path: Path, root: Path) -> str:
    parts = ["simsearch", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> list[tuple[int, str, str | None]]:
    """(line, module, name) of every import in module `name` at `path`, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found += [(node.lineno, module, alias.name) for alias in node.names]
    return found


def _violations(path: Path, root: Path = ROOT) -> list[str]:
    here = _module_name(path, root)
    out = []
    for line, module, name in _imports(path, here):
        if not module.startswith("simsearch"):
            continue
        parts = module.split(".")
        private_at = next((i for i, part in enumerate(parts) if _private(part)), None)
        if private_at is not None:
            home = ".".join(parts[:private_at])
            if here != home and not here.startswith(home + "."):
                out.append(f"{here}:{line} imports private module {module}")
        reexport = path.name == "__init__.py" and module.startswith(here + ".")
        pending = (here, module, name) in PENDING
        if name and _private(name) and module != here and not reexport and not pending:
            out.append(f"{here}:{line} imports private name {name} from {module}")
    return out


def test_no_private_import_from_outside_its_home() -> None:
    found = [v for path in sorted(ROOT.rglob("*.py")) for v in _violations(path)]
    assert found == []


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    path = tmp_path / "distributed" / "join.py"  # simsearch.distributed.join, rewritten
    path.parent.mkdir()
    path.write_text(
        "from simsearch.distributed._worker import WorkerCache\n"  # its own package: fine
        "def f():\n"
        "    from simsearch.dedup.join import _filters\n"
        "    from simsearch.index._faiss import make_index\n"
    )
    assert [v.split(" ", 1)[1] for v in _violations(path, tmp_path)] == [
        "imports private name _filters from simsearch.dedup.join",
        "imports private module simsearch.index._faiss",
    ]
