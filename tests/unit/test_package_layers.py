"""The packages of cdpflow import downward only: no package imports one that imports it back
(a cycle would let a domain package depend on the jobs that use it). Module-level imports only;
an import inside a function or under TYPE_CHECKING is the module's own business."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

import cdpflow

ROOT = Path(cdpflow.__file__).parent


def _package_imports() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> the modules doing it."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        package = parts[0].removesuffix(".py")
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                top, _, rest = name.partition(".")
                target = rest.split(".")[0] if top == "cdpflow" and rest else None
                if target and target != package:
                    edges[(package, target)].append("/".join(parts))
    return edges


def _cycle(edges: dict[tuple[str, str], list[str]]) -> list[str] | None:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_package_imports_one_that_imports_it_back() -> None:
    edges = _package_imports()
    cycle = _cycle(edges)
    shown = [
        f"{a} -> {b} ({', '.join(edges[(a, b)][:2])})" for a, b in itertools.pairwise(cycle or [])
    ]
    assert cycle is None, "package cycle: " + "; ".join(shown)


def test_the_check_finds_a_cycle() -> None:
    assert _cycle({("a", "b"): ["a/x.py"], ("b", "c"): ["b/y.py"], ("c", "a"): ["c/z.py"]}) == [
        "a", "b", "c", "a",
    ]  # fmt: skip
    assert _cycle({("a", "b"): ["a/x.py"], ("b", "c"): ["b/y.py"]}) is None
