"""The house's rules, checked: the layers (import-linter's contract in pyproject.toml), no
import circle, SQL only in the store, and modules a reader can hold in their head."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cvbench"
#: Longest module, in lines, before it should be split by concern.
MAX_LINES = 700
SQL = re.compile(r"\b(SELECT [A-Za-z*(]|INSERT (OR [A-Z]+ )?INTO|UPDATE [a-z_]+ SET|"
                 r"DELETE FROM|PRAGMA [a-z]|CREATE (TABLE|INDEX|TRIGGER))")


def test_the_layers_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.find_modules_directly_imported_by(v) & modules):
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

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for m in sorted(modules):
        if m not in index:
            visit(m)
    return found


def test_no_import_circles():
    graph = grimp.build_graph("cvbench", include_external_packages=False)
    # a package's __init__ re-exports its modules: it is where users import from, not a
    # module the others should import; leave the package roots out of the graph
    modules = {m for m in graph.modules
               if not (PACKAGE / Path(*m.split(".")[1:]) / "__init__.py").exists()}
    assert _cycles(graph, modules) == []


def test_sql_lives_only_in_the_store():
    speaking = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                if "store" not in p.relative_to(PACKAGE).parts[:1]
                and SQL.search(p.read_text(encoding="utf-8"))]
    assert speaking == []


def test_no_module_is_too_long():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
