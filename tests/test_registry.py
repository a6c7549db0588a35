"""One provider registry (issue 18): every interface offers the providers of
``interfaces/registry.py``, no more and no fewer, and each name means the same client
everywhere (the CLI's --provider, resolve_provider, the API's models, detection, the llm
plugin, the exports)."""

import argparse
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import chatgpt_providers
from chatgpt_providers import ChatProvider, Client
from chatgpt_providers.interfaces import cli
from chatgpt_providers.interfaces.compat import PROVIDER_NAMES, resolve_provider
from chatgpt_providers.interfaces.detection import _CLIENTS, DETECTORS, Detection, client_for
from chatgpt_providers.interfaces.registry import PRESETS, PROVIDERS, find, for_generation
from chatgpt_providers.interfaces.server import AUTO, DEFAULT_PORT, DEFAULT_THREADS, Models
from chatgpt_providers.testing import LocalSite

PACKAGE = Path(chatgpt_providers.__file__).resolve().parent
KEYS = [entry.key for entry in PROVIDERS]
PROTOCOL_KEYS = [entry.key for entry in PROVIDERS if not entry.preset]


def _choices(command: str, option: str):
    parser = cli.build_parser()
    sub = next(action for action in parser._actions
               if isinstance(action, argparse._SubParsersAction)).choices[command]
    return next(action for action in sub._actions if option in action.option_strings)


def test_the_table_has_unique_keys_and_classes_presets_first():
    assert len(set(KEYS)) == len(KEYS)
    assert len({entry.client for entry in PROVIDERS}) == len(PROVIDERS)
    presets = [entry.preset for entry in PROVIDERS]
    assert presets == sorted(presets, reverse=True) and any(presets) and not all(presets)
    for entry in PROVIDERS:
        assert find(entry.key) is entry and find(entry.client.__name__) is entry


@pytest.mark.parametrize("command", ["ask", "chat", "check"])
def test_cli_provider_choices_are_the_registry(command):
    assert list(_choices(command, "--provider").choices) == KEYS


@pytest.mark.parametrize("key", KEYS)
def test_every_cli_provider_resolves_to_the_client_the_cli_makes(key):
    extra = {} if find(key).preset else {"base_url": "https://site.example"}
    resolved = resolve_provider(key, **extra)
    assert type(resolved) is find(key).client
    args = cli.build_parser().parse_args(["ask", "Hi", "--provider", key,
                                          "--base-url", "https://site.example"])
    assert type(cli._make_client(args)) is type(resolved)


def test_resolve_provider_takes_aipkit_and_every_class_name():
    assert resolve_provider("aipkit", base_url="https://site.example").name == "AIPKit"
    assert resolve_provider("AIPKit", base_url="https://site.example").name == "AIPKit"
    assert set(PROVIDER_NAMES) == {entry.client.__name__ for entry in PROVIDERS} | {"RetryProvider"}
    with pytest.raises(ValueError, match="AIPKit"):  # the message lists every accepted name
        resolve_provider("aipkitt")


def test_aipkit_by_name_answers_through_resolve_provider_and_client():
    with LocalSite(plugins=("aipkit",)) as site:
        assert resolve_provider("aipkit", base_url=site.url).complete("Hi") == "Echo: Hi"
        answer = Client(provider="aipkit", base_url=site.url).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hello"}])
        assert answer.choices[0].message.content == "Echo: Hello"


def test_cli_aipkit_needs_a_site_in_ask_and_check():
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for command in (["ask", "Hi"], ["check"]):
        done = subprocess.run([sys.executable, "-m", "chatgpt_providers", *command, "--provider",
                               "aipkit"], capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == cli.EXIT_USAGE, done.stderr
        assert "--provider aipkit needs" in done.stderr


def test_the_api_serves_exactly_the_presets_and_auto():
    assert Models().ids() == [entry.key for entry in PRESETS] + [AUTO]
    assert list(_choices("api", "--provider").choices) == Models().ids()
    for key in PROTOCOL_KEYS:  # a protocol client needs a site: --site URL, not a model
        with pytest.raises(ValueError, match=f"'{key}' speaks a plugin on any site: serve a site "
                                             "running it with sites=/--site URL"):
            Models([key])
    for entry in PRESETS:
        assert entry.model == entry.key
        assert type(Models([entry.key]).client(entry.key)) is entry.client


def test_the_cli_api_defaults_are_the_servers():
    assert _choices("api", "--port").default == DEFAULT_PORT
    assert _choices("api", "--threads").default == DEFAULT_THREADS


def test_every_detected_generation_maps_to_a_row_whose_client_speaks_it():
    generations = [name for name, _ in DETECTORS]
    assert set(_CLIENTS) == set(generations)
    for generation in generations:
        entry = for_generation(generation)
        assert entry is not None and not entry.preset
        assert generation in entry.client.speaks
        assert _CLIENTS[generation] is entry.client
        found = Detection(generation, None, "https://s.example", "/", "", "")
        assert found.supported and type(client_for(found)) is entry.client
    assert {generation for entry in PROVIDERS for generation in entry.detects} == set(generations)


def test_the_exports_are_the_registry_clients():
    exported = {getattr(chatgpt_providers, name) for name in chatgpt_providers.__all__}
    clients = {thing for thing in exported
               if isinstance(thing, type) and issubclass(thing, ChatProvider) and thing is not ChatProvider}
    assert clients == {entry.client for entry in PROVIDERS}


def test_the_llm_plugin_offers_the_presets():
    llm_plugin = pytest.importorskip("chatgpt_providers.interfaces.llm_plugin")

    offered = llm_plugin.PRESETS
    assert {entry.key: entry.client.__name__ for entry in PRESETS} == offered
    for model_id, name in offered.items():
        assert resolve_provider(name).name == name == find(model_id).client.__name__


def _string_literals(path: Path):
    """The string constants of a module's code, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            docstrings.add(id(body[0].value))
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def test_each_provider_key_is_written_once_in_the_interfaces():
    """The registry is the only code outside the stand-in (whose plugin names are its own
    vocabulary, ``LocalSite(plugins=...)``) that spells a provider key."""
    written = {}
    for path in sorted((PACKAGE / "interfaces").rglob("*.py")):
        for text in _string_literals(path):
            if text in KEYS:
                written.setdefault(text, []).append(path.relative_to(PACKAGE).as_posix())
    stand_in_plugin = {"ai-power": ["interfaces/cli.py"]}  # the demo's LocalSite(plugins=...)
    for key in KEYS:
        assert sorted(written.get(key, [])) == sorted(["interfaces/registry.py"]
                                                      + stand_in_plugin.get(key, [])), key


def test_import_chatgpt_providers_does_not_load_the_registry():
    done = subprocess.run([sys.executable, "-c", "import sys, chatgpt_providers; print("
                           "'chatgpt_providers.interfaces.registry' in sys.modules)"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
