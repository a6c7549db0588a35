"""The command line, run as a real subprocess against the stand-in."""

import os
import re
import socket
import subprocess
import sys

import pytest

from chatgpt_providers import __version__
from chatgpt_providers.interfaces.cli import EXIT_NETWORK, EXIT_REFUSED, EXIT_SITE, EXIT_USAGE


def run(*args, stdin="", timeout=60):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "chatgpt_providers", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, env=env,
                          encoding="utf-8")


@pytest.mark.parametrize("provider", ["chatgpt4online", "chatgptt"])
def test_ask_streams_the_answer(site, provider):
    done = run("ask", "Hi there ünï", "--provider", provider, "--base-url", site.url)
    assert (done.returncode, done.stdout, done.stderr) == (0, "Echo: Hi there ünï\n", "")


def test_ask_no_stream_stdin_and_system(site):
    done = run("ask", "--provider", "chatgptt", "--base-url", site.url, "--no-stream",
               "--system", "Be brief.", stdin="From stdin\n")
    assert done.returncode == 0
    assert done.stdout == "Echo: Be brief.\n\nFrom stdin\n"


def test_generic_protocol_providers(site):
    done = run("ask", "Hi", "--provider", "ai-power", "--base-url", site.url, "--page", "/")
    assert (done.returncode, done.stdout) == (0, "Echo: Hi\n")
    done = run("ask", "Hi", "--provider", "ai-engine")
    assert done.returncode == EXIT_USAGE and "needs --base-url" in done.stderr


@pytest.mark.parametrize("args, stdin", [(["ask"], ""), (["ask", "--bogus"], ""), ([], "")])
def test_usage_errors(args, stdin):
    done = run(*args, stdin=stdin)
    assert done.returncode == EXIT_USAGE
    assert done.stdout == ""
    assert done.stderr.strip()


def test_network_error_exit_code():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = run("ask", "Hi", "--base-url", f"http://127.0.0.1:{port}", "--timeout", "2",
               "--retries", "0")
    assert done.returncode == EXIT_NETWORK
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("chatgpt-providers: NetworkError (detect): could not reach")
    done = run("ask", "Hi", "--provider", "chatgpt4online", "--base-url", f"http://127.0.0.1:{port}",
               "--timeout", "2", "--retries", "0")
    assert done.returncode == EXIT_NETWORK
    assert done.stderr.startswith("chatgpt-providers: NetworkError (Chatgpt4Online): could not reach")


def test_timeout_keeps_the_partial_answer_and_exits_3(site):
    site.inject("stall", seconds=3)
    done = run("ask", "one two three four", "--provider", "chatgptt", "--base-url", site.url,
               "--timeout", "0.5")
    assert done.returncode == EXIT_NETWORK
    assert done.stdout.startswith("Echo: one")
    assert "TimeoutError" in done.stderr


def test_refusal_and_site_failure_exit_codes(site):
    site.inject("banned_word")
    done = run("ask", "Hi", "--base-url", site.url)
    assert done.returncode == EXIT_REFUSED and "RejectedError" in done.stderr
    site.inject("http_500", target="any")
    done = run("ask", "Hi", "--base-url", site.url)
    assert done.returncode == EXIT_SITE and "ServerError" in done.stderr


def test_chat_keeps_history(site):
    done = run("chat", "--provider", "chatgptt", "--base-url", site.url,
               stdin="Hi\nAgain\n/reset\nFresh\n/exit\nnever sent\n")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines == ["Echo: Hi", "Echo: Again (history: 2 turns, last: Echo: Hi)", "Echo: Fresh"]
    assert "never sent" not in [r.form.get("message") for r in site.requests if r.route == "ajax"]


def test_demo_runs_offline_and_says_so():
    done = run("demo", "What can you do?", "--delay", "0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Echo: What can you do?") == 3  # AI Engine, AI Power, AI Power 2.3+
    assert "Chatgpt4Online" in done.stdout and "ChatGptt" in done.stdout
    assert "the 2.3+ protocol" in done.stdout
    assert "built-in local stand-in" in done.stdout


def test_serve_then_ask_against_it():
    server = subprocess.Popen([sys.executable, "-m", "chatgpt_providers", "serve", "--port", "0",
                               "--delay", "0"], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://127\.0\.0\.1:\d+", server.stdout.readline()).group(0)
        done = run("ask", "Hi", "--provider", "chatgptt", "--base-url", url)
        assert (done.returncode, done.stdout) == (0, "Echo: Hi\n")
    finally:
        server.terminate()
        server.wait(10)


def test_version_and_help_with_examples():
    done = run("--version")
    assert done.stdout.strip() == f"chatgpt-providers {__version__}"
    for command in ([], ["ask"], ["chat"], ["demo"], ["serve"]):
        done = run(*command, "--help")
        assert done.returncode == 0
        assert "example" in done.stdout
