"""The shape of the package, measured (issue 24): the layers import in one direction, no import
cycle (imports inside functions counted), no private name or private module imported from outside
its home, no module over 600 lines, and a tower kind's name tested only in the tower registry.

Each rule reads the source with `ast`, so it holds for code paths no other test runs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "simsearch"
MAX_LINES = 600
TOWER_KINDS = {"image", "text", "record", "face"}
MAX_KIND_TESTS = 5


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[str, str | None, int]]:
    """(module imported, name imported from it or None, line) for every import in `path`,
    relative ones resolved, those inside functions included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in MODULES:  # `from pkg import module`
                    yield full, None, node.lineno
                else:
                    yield base, alias.name, node.lineno


def _home(module: str) -> str | None:
    """The package module that `module` (maybe `pkg.mod.attr`) names, or None outside simsearch."""
    while module and module not in MODULES:
        module = module.rpartition(".")[0]
    return module or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for module, _, _ in _imports(name, path):
            home = _home(module) if module.startswith("simsearch") else None
            # a package's __init__ is imported on the way to any of its modules: not an edge of its own
            if home and home != name and not name.startswith(home + "."):
                graph[name].add(home)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_the_oracle_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def test_no_private_name_imported_from_outside_its_home() -> None:
    found = []
    for name, path in MODULES.items():
        for module, imported, line in _imports(name, path):
            home = _home(module) if module.startswith("simsearch") else None
            if home is None or home == name:
                continue
            owner = home.rpartition(".")[0] if _private(home.rpartition(".")[2]) else None
            if owner is not None and not (name == owner or name.startswith(owner + ".")):
                found.append(f"{name}:{line} imports private module {home}")
            if imported is not None and _private(imported):
                found.append(f"{name}:{line} imports {home}.{imported}")
    assert found == []


def test_no_module_over_600_lines() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def _kind_tests(tree: ast.AST) -> Iterator[int]:
    """Lines comparing something with a tower kind's name, or testing membership in names."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for side in [node.left, *node.comparators]:
            values = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            if any(isinstance(v, ast.Constant) and v.value in TOWER_KINDS for v in values):
                yield node.lineno
                break


def test_the_oracle_finds_kind_tests() -> None:
    code = 'if kind == "image": pass\nif model.kind in ("image", "face"): pass\nif x == "pixels": pass\n'
    assert list(_kind_tests(ast.parse(code))) == [1, 2]


def test_tower_kinds_are_tested_in_at_most_5_places() -> None:
    places = [
        f"{name}:{line}"
        for name, path in MODULES.items()
        for line in _kind_tests(ast.parse(path.read_text()))
    ]
    assert len(places) <= MAX_KIND_TESTS, places


@pytest.mark.parametrize(
    ("low", "high"),
    [("index", "models"), ("search", "models"), ("dedup", "models"), ("data", "models"), ("index", "search")],
)
def test_lower_rooms_do_not_import_higher_ones(low: str, high: str) -> None:
    found = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if name.startswith(f"simsearch.{low}")
        for target in targets
        if target.startswith(f"simsearch.{high}")
    ]
    assert found == []
