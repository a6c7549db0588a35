"""The README's Python examples run, with the presets pointed at the built-in stand-in."""

import ast
import asyncio
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from chatgpt_providers import Chatgpt4Online, ChatGptt

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = [textwrap.dedent(block) for block in
          re.findall(r"```python\n(.*?)^ *```", README.read_text(encoding="utf-8"), re.DOTALL | re.M)]


def test_the_readme_has_examples_and_exactly_two_newcomer_commands():
    assert len(BLOCKS) >= 5
    text = README.read_text(encoding="utf-8")
    first = re.search(r"```bash\n(.*?)```", text, re.DOTALL).group(1)
    commands = [line for line in first.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "chatgpt-providers demo" in commands[0] and "pytest" in commands[1]


@pytest.fixture
def namespace(site, monkeypatch):
    monkeypatch.setattr(Chatgpt4Online, "url", site.url)
    monkeypatch.setattr(ChatGptt, "url", site.url)
    return {}


def run_block(block, namespace):
    """Run a block as a notebook cell runs it: top-level ``await`` included."""
    code = compile(block, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)


def test_readme_examples_run_in_order(namespace, capsys):
    for block in BLOCKS:
        run_block(block, namespace)
    out = capsys.readouterr().out
    assert "Echo: Hi" in out
    assert "Echo: Be brief.\n\nWhat is WordPress?" in out
