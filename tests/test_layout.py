"""The package's shape (ARCHITECTURE.md): what each folder may import, no import circle, files
of a readable size. Imports are read from the source (``ast``), wherever they are: at the top,
inside functions, and under ``TYPE_CHECKING`` (a type-only import ties two modules as much as
any other); an import the public face makes by name on first use (``importlib``) is the public
face's alone, and it may import anything."""

import ast

import pytest
from importgraph import GRAPH, MODULES, PACKAGE, cycles, imports_in

#: Most lines a module has without a ``Size:`` paragraph in its docstring saying why.
MAX_LINES = 500

#: What each folder may import (besides itself): ARCHITECTURE.md's layers.
ALLOWED = {
    "core": {"core", "errors"},
    "protocols": {"core", "errors", "protocols"},
    "testing": {"testing", "errors"},
}


def _folder(module: str) -> str:
    """``core`` for ``chatgpt_providers.core.loop``; ``errors`` for ``chatgpt_providers.errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_import_reader_sees_every_kind_of_import():
    """The reader counts imports inside functions and under TYPE_CHECKING, so a layout
    break hidden there fails the rules below."""
    source = ("from typing import TYPE_CHECKING\nfrom .. import errors\n"
              "if TYPE_CHECKING:\n    from ..interfaces.cli import main\n"
              "def f():\n    from . import loop\n    import chatgpt_providers.testing.site\n")
    found = imports_in(source, "chatgpt_providers.core.example", False)
    assert found == {"chatgpt_providers.errors", "chatgpt_providers.interfaces.cli",
                     "chatgpt_providers.core.loop", "chatgpt_providers.testing.site"}


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == ["a -> b -> c -> a"]


def test_no_module_imports_one_that_imports_it_back():
    """Type-only imports included; the stand-in's modules too (tests/test_standin_layout.py
    holds its finer rules: a base that knows no plugin, plugins that know only the base)."""
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(folder):
    wrong = sorted(f"{name} imports {target}"
                   for name, targets in GRAPH.items() if _folder(name) == folder
                   for target in targets if _folder(target) not in ALLOWED[folder])
    assert wrong == []


def test_the_file_tree_shows_the_layers():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert folders == {"core", "protocols", "interfaces", "testing"}
    protocols = {p.stem for p in (PACKAGE / "protocols").glob("*.py")} - {"__init__"}
    stand_ins = {p.stem for p in (PACKAGE / "testing").glob("*.py")} - {"__init__", "base", "site"}
    assert protocols == stand_ins == {"ai_engine", "ai_power", "aipkit"}  # one of each per plugin


def test_a_long_module_says_why_in_its_docstring():
    """A module over MAX_LINES lines states, in a ``Size:`` paragraph of its docstring, why
    it stays one file (one job that is long, not several jobs)."""
    long = []
    for name, path in sorted(MODULES.items()):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_LINES:
            doc = ast.get_docstring(ast.parse(text)) or ""
            if "\nSize: " not in "\n" + doc:
                long.append(f"{name} ({text.count(chr(10))} lines)")
    assert long == []


def test_every_client_has_the_interface_calls_the_public_face_sets():
    """bot.conversation/batch/display_stream are the interface functions (the core has only
    their stubs), on a protocol client and on a RetryProvider alike."""
    from chatgpt_providers import ChatGptt, RetryProvider
    from chatgpt_providers.interfaces import batch, conversation, notebook

    for client in (ChatGptt(), RetryProvider([ChatGptt])):
        assert client.conversation.__func__ is conversation.conversation
        assert client.batch.__func__ is batch.run_batch
        assert client.display_stream.__func__ is notebook.display_reply
