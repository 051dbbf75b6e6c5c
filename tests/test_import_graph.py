"""The import graph of ``src/mingyue``: no cycle anywhere, and no hidden function-body import.

A cycle is read the way Python runs imports: a module importing ``a.b.c`` also runs ``a/__init__``
and ``a/b/__init__`` (unless it lives inside them), so those count as imported too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import mingyue
from mingyue.devcheck.source import unmarked_lazy_imports

grimp = pytest.importorskip("grimp")

SRC = Path(mingyue.__file__).parent


def _edges() -> dict[str, set[str]]:
    graph = grimp.build_graph("mingyue", exclude_type_checking_imports=True, cache_dir=None)
    edges: dict[str, set[str]] = {m: set() for m in graph.modules}
    for m in graph.modules:
        for t in graph.find_modules_directly_imported_by(m):
            edges[m].add(t)
            parts = t.split(".")
            for i in range(2, len(parts)):
                ancestor = ".".join(parts[:i])
                if not (m == ancestor or m.startswith(ancestor + ".")):
                    edges[m].add(ancestor)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        component.append(m)
                        if m == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_in_mingyue() -> None:
    cycles = _cycles(_edges())
    assert cycles == [], "\n".join(f"{len(c)}: {' '.join(c)}" for c in cycles)


def test_no_unmarked_function_body_import_of_mingyue() -> None:
    found = unmarked_lazy_imports(SRC, "mingyue", ("mingyue",))
    lines = sorted({f"{i.path.relative_to(SRC.parent)}:{i.line}: {i.imported}" for i in found})
    assert lines == [], "mark with '# lazy: <why>' or move to the top:\n" + "\n".join(lines)
