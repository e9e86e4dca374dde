"""Check the package's layering: no import cycle between modules, and no module importing from a layer above its
own. The layers, bottom up: the core (``modeling``, ``data``, ``inference``), ``evaluation``, ``training``, the
Haystack component, ``app`` (and ``pipelines``), then ``serve`` and ``cli``; ``extras`` and ``version`` are
utilities any layer may use. Counts imports inside functions too. Exit 1 with the offending edges.
Run: ``python scripts/check_imports.py``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spanbert_reader", "haystack_integrations")
LAYERS = (
    ("spanbert_reader.modeling", "spanbert_reader.data", "spanbert_reader.inference"),
    ("spanbert_reader.evaluation",),
    ("spanbert_reader.training",),
    ("haystack_integrations", "spanbert_reader.component"),
    ("spanbert_reader.app", "spanbert_reader.pipelines"),
    ("spanbert_reader.serve", "spanbert_reader.cli"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    modules["spanbert_reader.pipelines"] = ROOT / "pipelines" / "__init__.py"  # installed under that name
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def in_any(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer_of(name: str) -> int | None:
    """The layer index of a module (None for utilities and the package roots)."""
    for index, prefixes in enumerate(LAYERS):
        if in_any(name, prefixes):
            return index
    return None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    # package __init__ re-exports make parent -> child edges; only module-to-module cycles count
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def main() -> int:
    graph = import_graph()
    problems = []
    for a, targets in graph.items():
        for b in sorted(targets):
            low, high = layer_of(a), layer_of(b)
            if low is not None and high is not None and high > low:
                problems.append(f"{a} -> {b} (layer {low} imports layer {high})")
    cycle = find_cycle(graph)
    if cycle:
        problems.append("cycle: " + " -> ".join(cycle))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
