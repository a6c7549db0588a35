"""The package's import graph, read from the source (``ast``) wherever an import stands: at
the top, inside functions, and under ``TYPE_CHECKING``. Shared by the layout tests
(tests/test_layout.py for the whole package, tests/test_standin_layout.py for the stand-in)."""

import ast
from pathlib import Path
from typing import Dict, List, Set

__all__ = ["PACKAGE", "MODULES", "GRAPH", "module_name", "imports_in", "cycles"]

PACKAGE = Path(__file__).resolve().parent.parent / "chatgpt_providers"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> Set[str]:
    """The package modules ``path`` imports, wherever the import statement is."""
    return imports_in(path.read_text(encoding="utf-8"), module_name(path),
                       path.name == "__init__.py")


def imports_in(source: str, name: str, is_package: bool) -> Set[str]:
    package = name if is_package else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = [f"{target}.{alias.name}" for alias in node.names
                          if f"{target}.{alias.name}" in MODULES]
            # ``from .. import errors`` reads the submodule; anything else reads ``target``
            candidates = submodules if len(submodules) == len(node.names) else [target] + submodules
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in MODULES)
    found.discard(name)
    return found


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def cycles(graph: Dict[str, Set[str]]) -> List[str]:
    """Every import circle, each once, as ``a -> b -> a``."""
    found: List[str] = []
    seen: Set[str] = set()

    def visit(node: str, trail: List[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in trail:
                found.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, trail + [nxt])

    for start in sorted(graph):
        if start not in seen:
            seen.add(start)
            visit(start, [start])
    return found
