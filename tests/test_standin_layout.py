"""The stand-in's shape (issue 18): a base that knows no plugin, plugin modules that know the
base, the site that composes them; no import circle among its modules, counting imports inside
functions and under ``TYPE_CHECKING`` (a type-only import is still a dependency a reader and
the type checker follow)."""

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

TESTING = Path(__file__).resolve().parent.parent / "chatgpt_providers" / "testing"
PACKAGE = "chatgpt_providers.testing"
PLUGIN_MODULES = ("ai_engine", "ai_power", "aipkit")


def _modules() -> Dict[str, Path]:
    found = {}
    for path in sorted(TESTING.glob("*.py")):
        found[PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"] = path
    return found


def imports_of(source: str, module: str, modules: Set[str]) -> Set[str]:
    """Every module of ``modules`` that ``source`` (the text of ``module``) imports: at the
    top, inside functions and under ``TYPE_CHECKING`` alike; importing a name from the package
    counts as importing the package (its ``__init__`` runs). The parent package a submodule
    import loads on the way is not counted: every module of the package has it."""
    package = module if module == PACKAGE else module.rsplit(".", 1)[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:  # from . import site
                    found.add(f"{base}.{alias.name}")
                elif base in modules:  # from .site import LocalSite; from . import LocalSite
                    found.add(base)
    found.discard(module)
    return found


def graph() -> Dict[str, Set[str]]:
    modules = _modules()
    return {name: imports_of(path.read_text(encoding="utf-8"), name, set(modules))
            for name, path in modules.items()}


def cycle_in(edges: Dict[str, Set[str]]) -> List[str]:
    """One import circle of ``edges`` as a path ``[a, b, ..., a]``, or ``[]``."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_checker_sees_type_only_and_function_level_imports():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .site import LocalSite\n"
              "def f():\n    from . import aipkit\n    import chatgpt_providers.testing.base\n"
              "    from chatgpt_providers.testing import LocalSite\n")
    modules = {PACKAGE, f"{PACKAGE}.site", f"{PACKAGE}.aipkit", f"{PACKAGE}.base"}
    assert imports_of(source, f"{PACKAGE}.ai_power", modules) == modules
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_among_the_stand_in_modules():
    assert cycle_in(graph()) == []


def test_the_base_knows_no_plugin_and_no_site():
    assert graph()[f"{PACKAGE}.base"] == set()


@pytest.mark.parametrize("plugin", PLUGIN_MODULES)
def test_a_plugin_module_knows_the_base_not_the_site(plugin):
    imported = graph()[f"{PACKAGE}.{plugin}"]
    assert f"{PACKAGE}.base" in imported
    assert not imported & {PACKAGE, f"{PACKAGE}.site"}


def test_the_site_composes_every_plugin_module():
    imported = graph()[f"{PACKAGE}.site"]
    assert {f"{PACKAGE}.{plugin}" for plugin in PLUGIN_MODULES} | {f"{PACKAGE}.base"} <= imported
