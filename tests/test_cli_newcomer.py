"""Issue 19, points 4, 5, 6 and 11: the command line as a newcomer uses it, run as real
subprocesses. With --base-url and no --provider, ask and chat find the plugin themselves;
advice names the command's options, never a Python spelling; chat fails when every turn
failed; every usage error looks the same and shows the command's usage."""

import logging
import os
import re
import socket
import subprocess
import sys

import pytest
from rawserver import RawServer, response

from chatgpt_providers import ChatGptt, RetryProvider
from chatgpt_providers.interfaces.cli import EXIT_NETWORK, EXIT_OK, EXIT_SITE, EXIT_USAGE
from chatgpt_providers.testing import LocalSite

ENV = dict(os.environ, PYTHONIOENCODING="utf-8")
COMMAND = [sys.executable, "-m", "chatgpt_providers"]
#: Python spellings a command line user must never be told to change.
PYTHON_SPELLINGS = re.compile(r"\b(base_url|page|proxy|proxies|timeout|retries|bot_id|rest_url)=|"
                              r"ChatProvider|__init__|keyword argument")


def run(*args, stdin=""):
    return subprocess.run([*COMMAND, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env=ENV, encoding="utf-8")


def closed_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def aipkit_site():
    with LocalSite(delay=0.001, plugins=("aipkit",)) as site:
        yield site


@pytest.fixture
def legacy_site():
    with LocalSite(delay=0.001, plugins=("ai-power",)) as site:
        yield site


# -- point 4: ask and chat find the plugin, as check does -----------------------------------------

def test_ask_finds_the_plugin_on_a_2_3_site_without_provider(aipkit_site):
    done = run("ask", "--base-url", aipkit_site.url, "Hi")
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout == "Echo: Hi\n"
    assert {"aipkit_cache", "aipkit_stream"} <= set(aipkit_site.routes())


def test_chat_finds_the_plugin_too(legacy_site):
    done = run("chat", "--base-url", legacy_site.url, stdin="Hi\nagain\n")
    assert done.returncode == EXIT_OK, done.stderr
    assert "Echo: Hi" in done.stdout and "Echo: again" in done.stdout
    assert "ajax" in legacy_site.routes() and "submit" not in legacy_site.routes()


def test_ask_takes_the_page_address_as_base_url(legacy_site):
    done = run("ask", "--base-url", legacy_site.url + "/", "--no-stream", "Hi")
    assert done.returncode == EXIT_OK and done.stdout == "Echo: Hi\n", done.stderr


def test_a_wrong_provider_is_told_which_provider_speaks_the_page(aipkit_site, legacy_site):
    done = run("ask", "--provider", "chatgpt4online", "--base-url", aipkit_site.url, "Hi")
    assert done.returncode == EXIT_SITE
    assert "runs AI Power 2.4" in done.stderr and "use --provider ai-power" in done.stderr
    assert "leave out --provider" in done.stderr and "--page PATH" not in done.stderr
    done = run("ask", "--provider", "aipkit", "--base-url", legacy_site.url, "--page", "/", "Hi")
    assert done.returncode == EXIT_SITE
    assert "use --provider ai-power" in done.stderr
    assert "pass --page" not in done.stderr.lower(), done.stderr  # --page was passed
    assert not PYTHON_SPELLINGS.search(done.stderr)


def test_advice_to_pass_page_says_that_it_was_passed():
    with LocalSite(plugins=()) as empty:
        done = run("ask", "--provider", "ai-power", "--base-url", empty.url, "--page", "/chat/", "Hi")
    assert done.returncode == EXIT_SITE
    assert "--page /chat/ was given: pass --page with the path of a page that shows" in done.stderr
    assert "pass --page PATH" not in done.stderr and not PYTHON_SPELLINGS.search(done.stderr)


# -- point 5: chat fails when every turn failed --------------------------------------------------

def test_chat_exits_non_zero_when_every_turn_failed():
    done = run("chat", "--provider", "chatgptt", "--base-url", closed_url(), "--retries", "0",
               stdin="Hi\nagain\n")
    assert done.returncode == EXIT_NETWORK
    assert done.stderr.count("NetworkError") == 2  # each turn was tried and reported


def test_chat_succeeds_when_a_turn_succeeded(site):
    site.inject("http_500")  # the first turn's request fails; the second is answered
    done = run("chat", "--provider", "chatgpt4online", "--base-url", site.url, "--retries", "0",
               stdin="Hi\nagain\n")
    assert done.returncode == EXIT_OK, done.stderr
    assert "ServerError" in done.stderr and "Echo: again" in done.stdout


# -- point 6: advice in the command line's words; a base URL without a scheme --------------------

def test_a_base_url_without_scheme_is_taken_as_http(site):
    host = site.url.split("://", 1)[1]
    done = run("ask", "--base-url", host, "Hi")
    assert done.returncode == EXIT_OK and done.stdout == "Echo: Hi\n", done.stderr
    done = run("check", host)
    assert done.returncode == EXIT_OK, done.stdout + done.stderr


def test_a_refused_connection_names_base_url():
    url = closed_url()
    for args in (["ask", "--base-url", url, "Hi"],
                 ["ask", "--provider", "ai-engine", "--base-url", url, "--retries", "0", "Hi"]):
        done = run(*args)
        assert done.returncode == EXIT_NETWORK
        assert f"check --base-url {url}" in done.stderr, done.stderr
        assert not PYTHON_SPELLINGS.search(done.stderr)


def test_a_404_names_base_url_and_page_not_python():
    def script(request, connection):
        connection.send(response("404 Not Found", b"<html>Not Found</html>"))

    with RawServer(script) as server:
        for args in (["ask", "--base-url", server.url, "Hi"],
                     ["ask", "--provider", "ai-power", "--base-url", server.url, "Hi"]):
            done = run(*args)
            assert done.returncode == EXIT_SITE, done.stderr
            assert "HTTP 404" in done.stderr and "check --base-url and --page" in done.stderr
            assert "base_url" not in done.stderr and not PYTHON_SPELLINGS.search(done.stderr)


# -- point 11: one style for every usage error, with the command's usage ---------------------------

@pytest.mark.parametrize("args, says", [
    (["ask", "--no-stram", "Hi"], "unrecognized arguments: --no-stram (did you mean --no-stream?)"),
    (["ask", "--retries", "-1", "Hi"], "argument --retries: invalid retry count '-1'"),
    (["ask", "--timeout", "0", "Hi"], "argument --timeout: invalid timeout '0'"),
    (["ask", "--provider", "ai-power", "Hi"], "--provider ai-power needs --base-url"),
    (["chat", "--retries", "x"], "argument --retries: invalid retry count 'x'"),
    (["api", "--retries", "-1"], "argument --retries: invalid retry count '-1'"),
])
def test_every_usage_error_shows_the_commands_usage(args, says):
    done = run(*args)
    assert done.returncode == EXIT_USAGE
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"usage: chatgpt-providers {args[0]} "), done.stderr
    assert lines[-1] == f"chatgpt-providers {args[0]}: error: {says}" or \
        lines[-1].startswith(f"chatgpt-providers {args[0]}: error: {says}"), done.stderr


def test_the_failover_log_does_not_promise_a_provider_after_the_last(caplog):
    caplog.set_level(logging.INFO, logger="chatgpt_providers")
    url = closed_url()
    bot = RetryProvider([ChatGptt(base_url=url, retries=0), ChatGptt(base_url=url, retries=0)])
    with pytest.raises(Exception, match="all 2 providers failed"):
        bot.complete("Hi")
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("RetryProvider:")]
    assert len(lines) == 2
    assert lines[0].endswith("trying the next provider")
    assert "next provider" not in lines[1] and lines[1].endswith("that was the last of 2")


@pytest.mark.parametrize("plugins", ["ai-engine@1.6", "ai-power", "aipkit"])
def test_the_command_serve_suggests_works_on_the_site_it_serves(plugins):
    import shlex

    server = subprocess.Popen([*COMMAND, "serve", "--port", "0", "--plugins", plugins],
                              stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        lines = [server.stdout.readline() for _ in range(2)]
        suggested = lines[1].split("try:", 1)[1].split("(", 1)[0]
        words = shlex.split(suggested)
        assert words[:2] == ["chatgpt-providers", "ask"], lines
        done = run(*words[1:])
        assert done.returncode == EXIT_OK and done.stdout.strip() == "Echo: Hi", done.stderr
    finally:
        server.terminate()
        server.wait(10)
