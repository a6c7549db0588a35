"""The package's shape (issue 12): layers a reader sees in the file tree, and no import circle."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "chatgpt_providers"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set:
    """The package modules ``path`` imports, at the top or inside functions, typing-only
    imports left out (they never run)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        names = (getattr(test, "id", None), getattr(test, "attr", None))  # TYPE_CHECKING, typing.T...
        if isinstance(node, ast.If) and "TYPE_CHECKING" in names:
            typing_only.update(id(child) for child in ast.walk(node))
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
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
        for candidate in candidates:
            if candidate.startswith("chatgpt_providers") and candidate in MODULES:
                found.add(candidate)
    found.discard(name)
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def test_no_module_imports_one_that_imports_it_back():
    graph = {name: _imports(path) for name, path in MODULES.items()}
    cycles = []

    def visit(node, trail):
        for nxt in sorted(graph[node]):
            if nxt in trail:
                cycles.append(" -> ".join(trail[trail.index(nxt):] + [nxt]))
            elif nxt not in seen:
                seen.add(nxt)
                visit(nxt, trail + [nxt])

    seen = set()
    for start in sorted(graph):
        seen.add(start)
        visit(start, [start])
    assert cycles == []


def test_the_file_tree_shows_the_layers():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == {"core", "protocols", "interfaces", "testing"}
    protocols = {p.stem for p in (PACKAGE / "protocols").glob("*.py")} - {"__init__"}
    stand_ins = {p.stem for p in (PACKAGE / "testing").glob("*.py")} - {"__init__", "base", "site"}
    assert protocols == stand_ins == {"ai_engine", "ai_power", "aipkit"}  # one of each per plugin


def test_protocol_modules_speak_only_their_plugin():
    """A protocol module imports the shared core, never an interface or the stand-in."""
    for name, path in MODULES.items():
        if name.startswith("chatgpt_providers.protocols."):
            for imported in _imports(path):
                assert not imported.startswith(("chatgpt_providers.interfaces",
                                                "chatgpt_providers.testing")), (name, imported)
