"""No import cycles among grpo_tui's modules: a cycle makes the import order matter, hides which
module is the lower one, and is usually dodged with an import inside a function. So imports inside
functions count here as much as the module's own; only ``if TYPE_CHECKING:`` imports (never run)
do not. ``from pkg import mod`` is an arrow to ``pkg.mod`` (the package itself is already loading).
A static scan of the source with ast; import-linter's contracts (test_layers.py) keep the layers."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "grpo_tui"


def module_files(root: Path) -> dict[str, Path]:
    out = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package modules it imports (at any depth of its code)."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            if _type_checking_only(node, parents):
                continue
            graph[name].update(t for t in targets if t in mods and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def describe(graph: dict[str, set[str]], comp: list[str]) -> str:
    return "; ".join(f"{a} -> {b}" for a in comp for b in sorted(graph[a]) if b in comp)


def test_no_import_cycles():
    graph = import_graph(module_files(PKG))
    assert {"grpo_tui.core.run.rundir", "grpo_tui.tui.app", "grpo_tui.trainer.callback"} <= set(graph)
    assert "grpo_tui.core.run.events" in graph["grpo_tui.core.run.rundir"]  # the scan sees the arrows
    found = cycles(graph)
    assert not found, "\n".join(describe(graph, c) for c in found)


def test_a_function_level_import_cycle_is_found(tmp_path):
    pkg = tmp_path / "grpo_tui"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("from .b import x\n")
    (pkg / "core" / "b.py").write_text("x = 1\n\ndef f():\n    from . import a\n")
    (pkg / "core" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import y\n")
    graph = import_graph(module_files(pkg))
    assert graph["grpo_tui.core.c"] == set()
    assert cycles(graph) == [["grpo_tui.core.a", "grpo_tui.core.b"]]
