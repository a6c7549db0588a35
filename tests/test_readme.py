"""The README's Python examples run offline exactly as written (no patching: the examples
start the built-in stand-in themselves), and every path the README points at is in the
repository."""

import ast
import asyncio
import inspect
import ipaddress
import re
import socket
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = [textwrap.dedent(block) for block in
          re.findall(r"```python\n(.*?)^ *```", TEXT, re.DOTALL | re.M)]


def test_the_readme_has_examples_and_exactly_two_newcomer_commands():
    assert len(BLOCKS) >= 5
    first = re.search(r"```bash\n(.*?)```", TEXT, re.DOTALL).group(1)
    commands = [line for line in first.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "chatgpt-providers demo" in commands[0] and "pytest" in commands[1]


def run_block(block, namespace):
    """Run a block as a notebook cell runs it: top-level ``await`` included."""
    code = compile(block, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)


@pytest.fixture
def loopback_only(monkeypatch):
    """Every connection the examples open goes to 127.0.0.1: a block that reached a real site
    fails here instead of passing on a machine that happens to be online."""
    connect = socket.socket.connect
    reached = []

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not ipaddress.ip_address(host).is_loopback:
            raise AssertionError(f"a README example connected to {address}; examples run offline")
        reached.append(address)
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return reached


def test_readme_examples_run_offline_as_written_in_order(loopback_only, capsys):
    from chatgpt_providers.testing import LocalSite

    namespace = {}
    sites = []
    try:
        for block in BLOCKS:
            run_block(block, namespace)
            site = namespace.get("site")
            if isinstance(site, LocalSite) and site not in sites:
                sites.append(site)
    finally:
        for site in sites:
            site.stop()
    out = capsys.readouterr().out
    assert "Echo: Hi" in out
    assert "Echo: Be brief.\n\nWhat is WordPress?" in out
    assert "ChatCompletion.create() got an unexpected option 'tiemout' (did you mean 'timeout'?)" in out
    assert "['chatgpt4online', 'chatgptt', 'auto']" in out  # the in-process API example ran
    assert loopback_only  # the examples did talk to the stand-in


def test_every_path_the_readme_names_is_in_the_repository():
    links = re.findall(r"\]\(([^)#\s]+)", TEXT)  # Markdown links
    quoted = re.findall(r"`((?:\.\./|[\w.-]+/)[\w./-]+\.(?:md|py|ipynb|json))`", TEXT)  # `docs/x.md`
    written = {"benchmarks/results.json"}  # written by `python -m benchmarks`, not kept
    paths = [p for p in links + quoted if not re.match(r"[a-z]+://", p) and p not in written]
    assert "docs/protocols/aipkit.md" in paths
    for path in paths:
        target = (ROOT / path).resolve()
        assert target.is_relative_to(ROOT), f"README points outside the repository: {path}"
        assert target.exists(), f"README points at {path}, which the repository does not have"
    assert "shared/protocols" not in TEXT and not re.search(r"[`(]\.\./", TEXT)


def test_no_code_comment_points_outside_the_repository():
    for path in [*ROOT.glob("chatgpt_providers/**/*.py"), *ROOT.glob("tests/*.py"),
                 ROOT / "ARCHITECTURE.md"]:
        if path.name == "test_readme.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "shared/protocols" not in text, path
    for name in ("ai-engine.md", "ai-power.md", "aipkit.md", "versions.md"):
        assert (ROOT / "docs" / "protocols" / name).is_file()
