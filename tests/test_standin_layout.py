"""The stand-in's shape (issue 18): a base that knows no plugin, plugin modules that know the
base, the site that composes them; no import circle among its modules, counting imports inside
functions and under ``TYPE_CHECKING`` (a type-only import is still a dependency a reader and
the type checker follow)."""

import pytest
from importgraph import GRAPH, cycles, imports_in

PACKAGE = "chatgpt_providers.testing"
PLUGIN_MODULES = ("ai_engine", "ai_power", "aipkit")


def graph():
    """The stand-in's modules and what each imports of them (tests/importgraph.py)."""
    ours = {name for name in GRAPH if name == PACKAGE or name.startswith(PACKAGE + ".")}
    return {name: GRAPH[name] & ours for name in ours}


def test_the_checker_sees_type_only_and_function_level_imports():
    source = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .site import LocalSite\n"
              "def f():\n    from . import aipkit\n    import chatgpt_providers.testing.base\n"
              "    from chatgpt_providers.testing import LocalSite\n")
    modules = {PACKAGE, f"{PACKAGE}.site", f"{PACKAGE}.aipkit", f"{PACKAGE}.base"}
    assert imports_in(source, f"{PACKAGE}.ai_power", False) == modules
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a -> b -> c -> a"]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_among_the_stand_in_modules():
    assert cycles(graph()) == []


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
