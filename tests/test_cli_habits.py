"""Issue 11: the command line as people use it, run as real subprocesses (Ctrl-C through a
pseudo-terminal and SIGINT while a reply streams)."""

import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from chatgpt_providers.interfaces.cli import EXIT_NETWORK, EXIT_OK, EXIT_SITE, EXIT_USAGE
from chatgpt_providers.testing import LocalSite

ENV = dict(os.environ, PYTHONIOENCODING="utf-8")
COMMAND = [sys.executable, "-m", "chatgpt_providers"]


def run(*args, stdin="", timeout=60):
    return subprocess.run([*COMMAND, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=ENV, encoding="utf-8")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- check -------------------------------------------------------------------------------------

def test_check_honours_provider_with_a_base_url(site):
    done = run("check", "--provider", "chatgptt", "--base-url", site.url)
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    row = done.stdout.strip().splitlines()[1]
    assert "ChatGptt" in row and "AI Power" in row and "AI Engine" not in row
    assert [r.route for r in site.requests if r.route in ("ajax", "submit")] == ["ajax"]


def test_check_takes_the_url_as_an_argument_like_detect(site):
    done = run("check", site.url + "/")
    assert done.returncode == EXIT_OK, done.stdout + done.stderr
    assert "AI Engine" in done.stdout.strip().splitlines()[1]
    done = run("check", site.url, "--provider", "ai-power")
    assert done.returncode == EXIT_OK and "AI Power" in done.stdout
    done = run("check", site.url, "--base-url", site.url)
    assert done.returncode == EXIT_USAGE and "give the site once" in done.stderr


# -- failures: one line, the documented exit code, a traceback only with --debug -----------------

def test_serve_on_a_busy_port_is_one_line():
    with LocalSite() as site:
        port = site.url.rsplit(":", 1)[1]
        done = run("serve", "--port", port)
        assert done.returncode == EXIT_NETWORK
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
        debug = run("serve", "--port", port, "--debug")
        assert debug.returncode == EXIT_NETWORK and "Traceback" in debug.stderr
        assert debug.stderr.strip().splitlines()[-1] == done.stderr.strip()


@pytest.mark.parametrize("args, stdin", [
    (["ask", "Hi"], ""),
    (["ask", "--no-stream", "Hi"], ""),
    (["chat"], "Hi\n"),
    (["detect"], ""),
])
def test_network_failures_are_one_line_without_traceback(args, stdin):
    url = f"http://127.0.0.1:{free_port()}"
    extra = [url] if args == ["detect"] else ["--base-url", url, "--retries", "0"]
    done = run(*args, *extra, stdin=stdin)
    assert done.returncode in (EXIT_NETWORK, EXIT_OK)  # chat goes on after a failed turn
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "NetworkError" in done.stderr and "could not reach" in done.stderr
    debug = run("--debug", *args, *extra, stdin=stdin)
    assert "Traceback" in debug.stderr


# -- --timeout: one syntax, CLI advice ----------------------------------------------------------

def test_timeout_syntax_is_the_one_the_help_shows(site):
    help_text = run("ask", "--help").stdout
    assert "CONNECT,READ" in help_text and "10/60" not in help_text
    done = run("ask", "Hi", "--provider", "chatgptt", "--base-url", site.url, "--timeout", "10,60")
    assert (done.returncode, done.stdout) == (EXIT_OK, "Echo: Hi\n")
    done = run("ask", "Hi", "--base-url", site.url, "--timeout", "10/60")
    assert done.returncode == EXIT_USAGE and "CONNECT,READ, e.g. 10 or 10,60" in done.stderr


def test_read_timeout_set_apart_and_advice_for_the_command_line(site):
    site.inject("stall", seconds=5)
    done = run("ask", "one two three four", "--provider", "chatgptt", "--base-url", site.url,
               "--timeout", "10,0.5")
    assert done.returncode == EXIT_NETWORK and done.stdout.startswith("Echo: one")
    assert done.stderr.count("\n") == 1
    assert "TimeoutError" in done.stderr and "nothing for 0.5 s" in done.stderr
    assert "--timeout CONNECT,READ" in done.stderr and "timeout=(" not in done.stderr


def test_check_diagnoses_give_command_line_advice():
    with LocalSite(plugins=("ai-engine",)) as site:  # no AI Power on the page
        done = run("check", "--provider", "chatgptt", "--base-url", site.url)
    assert done.returncode == EXIT_SITE
    assert "connect(url)" not in done.stdout and "--provider" in done.stdout


# -- chat: Ctrl-C, Ctrl-D, /help ----------------------------------------------------------------

class Terminal:
    """The command in a pseudo-terminal, as a person runs it."""

    def __init__(self, *args):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([*COMMAND, *args], stdin=slave, stdout=slave, stderr=slave,
                                     env=ENV, close_fds=True)
        os.close(slave)
        self.output = b""

    def read_until(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        start = len(self.output)
        while text.encode() not in self.output[start:]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear; got {self.output[start:]!r}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # the command ended
                    data = b""
                if not data:
                    raise AssertionError(f"ended before {text!r}; got {self.output[start:]!r}")
                self.output += data
        return self.output[start:].decode()

    def wait_reading(self, timeout=10):
        """Wait until the command is blocked reading the terminal, as when a person presses a
        key: a signal sent between the prompt's write and the read() call is taken before the
        read and would leave it waiting for input (a race no person can hit)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{self.proc.pid}/stat") as stat:
                    state = stat.read().rsplit(")", 1)[1].split()[0]
                with open(f"/proc/{self.proc.pid}/wchan") as wchan:
                    waiting = wchan.read()
            except OSError:  # no /proc: give it time instead
                time.sleep(0.5)
                return
            if state == "S" and ("tty" in waiting or "wait_woken" in waiting):
                return
            time.sleep(0.01)

    def type(self, text):
        os.write(self.master, text.encode())

    def finish(self, timeout=30):
        code = self.proc.wait(timeout)
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                break
            if not data:
                break
            self.output += data
        os.close(self.master)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_ctrl_c_mid_reply_cancels_it_and_keeps_the_session():
    with LocalSite(delay=0.005) as site:
        terminal = Terminal("chat", "--provider", "chatgptt", "--base-url", site.url)
        try:
            terminal.read_until("you> ")
            terminal.type("Hi\n")
            terminal.read_until("Echo: Hi")
            terminal.read_until("you> ")
            site.delay = 0.3  # a slow reply, to interrupt
            terminal.type(" ".join(f"word{i}" for i in range(40)) + "\n")
            terminal.read_until("bot> Echo: ")
            terminal.proc.send_signal(signal.SIGINT)
            assert "reply cancelled" in terminal.read_until("you> ")
            assert terminal.proc.poll() is None  # the session goes on
            site.delay = 0.001
            terminal.type("Again\n")
            # the history holds the first turn, not the cancelled one
            terminal.read_until("Echo: Again (history: 2 turns, last: Echo: Hi)")
            terminal.read_until("you> ")
            terminal.type("\x04")  # Ctrl-D at the prompt
            assert terminal.finish() == EXIT_OK
        finally:
            terminal.kill()
    assert terminal.output.endswith(b"you> \r\n")  # a clean newline for the shell's prompt
    assert b"Traceback" not in terminal.output


def test_ctrl_c_at_the_prompt_ends_the_chat_cleanly(site):
    terminal = Terminal("chat", "--provider", "chatgptt", "--base-url", site.url)
    try:
        terminal.read_until("you> ")
        terminal.wait_reading()
        terminal.proc.send_signal(signal.SIGINT)
        assert terminal.finish() == EXIT_OK
    finally:
        terminal.kill()
    assert terminal.output.endswith(b"you> \r\n") and b"Traceback" not in terminal.output


def test_slash_help_lists_the_commands_and_is_not_sent(site):
    done = run("chat", "--provider", "chatgptt", "--base-url", site.url,
               stdin="/help\n/nope\n//etc/hosts?\nHi\n/exit\n")
    assert done.returncode == EXIT_OK
    for command in ("/help", "/reset", "/exit", "Ctrl-C"):
        assert command in done.stderr
    assert "unknown command /nope" in done.stderr
    assert done.stdout.splitlines() == ["Echo: /etc/hosts?",
                                        "Echo: Hi (history: 2 turns, last: Echo: /etc/hosts?)"]
    sent = [r.form["message"] for r in site.requests if r.route == "ajax"]
    assert sent == ["/etc/hosts?", "Hi"]


# -- demo ---------------------------------------------------------------------------------------

def test_demo_streams_visibly_and_says_what_you_watch():
    proc = subprocess.Popen([*COMMAND, "demo", "one two three four five"], stdout=subprocess.PIPE,
                            env=ENV)
    arrivals = []  # (seconds, bytes) as the terminal would get them
    try:
        while True:
            data = os.read(proc.stdout.fileno(), 4096)
            if not data:
                break
            arrivals.append((time.monotonic(), data))
    finally:
        proc.wait(60)
    assert proc.returncode == EXIT_OK
    output = b"".join(data for _, data in arrivals).decode()
    assert re.search(r"[Ww]atch .*word by word", output)
    # The first answer: from its first word to its last, people can see it come in.
    text = b""
    first = last = None
    for when, data in arrivals:
        text += data
        if first is None and b"Echo: " in text:
            first = when
        if b"Echo: one two three four five" in text:
            last = when
            break
    assert first is not None and last is not None
    assert last - first >= 0.5  # four gaps of the demo's per-word delay (a lower bound)
