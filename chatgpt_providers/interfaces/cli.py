"""The ``chatgpt-providers`` command (also ``python -m chatgpt_providers``).

Exit codes: 0 success, 1 the site failed (server error, odd answer, no nonce; also an
unexpected error), 2 usage error, 3 network problem (unreachable, timeout, connection cut;
``serve``: the port cannot be used), 4 the site refused (message rejected, blocked, rate
limited, nonce refused), 130 Ctrl-C.

Every failure is one line on stderr; ``--debug`` (before or after the command) adds the
traceback and the client's log. Advice in messages names the command's options
(``--timeout``, ``--proxy``, ...), not the Python API's.

Size: one command's surface: its parser, its one-line error report (exit codes, advice in
the command's words) and each subcommand's short body; the work is done by the interfaces
each subcommand calls.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from typing import List, Optional, Sequence, TextIO, Tuple, Union

from .. import __version__, errors
from ..core.provider import ChatProvider
from .notebook import print_stream
from .registry import PRESETS, ProviderEntry, find, for_generation
from .registry import PROVIDERS as _ROWS

__all__ = ["main", "parse_timeout", "cli_advice", "EXIT_OK", "EXIT_SITE", "EXIT_USAGE",
           "EXIT_NETWORK", "EXIT_REFUSED"]

EXIT_OK, EXIT_SITE, EXIT_USAGE, EXIT_NETWORK, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

#: Seconds between the demo's streamed words: slow enough to see the answer stream.
DEMO_DELAY = 0.2

PROG = "chatgpt-providers"

EXAMPLES = f"""
examples:
  {PROG} demo                                   both providers against the built-in stand-in
  {PROG} ask "What is WordPress?"               ask chatgpt4online.org
  {PROG} ask --provider chatgptt "Hi"           ask chatgptt.me
  echo "Hi" | {PROG} ask --base-url http://127.0.0.1:8080
  {PROG} chat --system "Answer in French."      a conversation in the terminal
  {PROG} serve --port 8080                      run the stand-in for --base-url tests
  {PROG} serve --plugins aipkit                 a stand-in running AI Power 2.3+
  {PROG} api --port 1337                        an OpenAI-compatible endpoint at /v1
  {PROG} detect https://site.example/chat/      which chatbot a page runs
  {PROG} check                                  health of both preset sites
  {PROG} check https://site.example/chat/       health of one site
  {PROG} ask --timeout 10,120 "Hi"              connect within 10 s, allow 120 s between reads
add --debug to any command to see the traceback of a failure
"""

CHAT_HELP = """commands:
  /help    this list
  /reset   forget the conversation and start a new one
  /exit    end the chat (also /quit, Ctrl-D, or Ctrl-C at the prompt)
Ctrl-C while a reply arrives cancels that reply; the conversation goes on.
To send a message that starts with /, type it with two: //etc is sent as /etc."""


class CommandError(Exception):
    """A failure the command reports as one line, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


#: What --provider takes: the registry's keys, the presets first, then the protocol clients
#: for any --base-url.
PROVIDERS = tuple(entry.key for entry in _ROWS)
#: The protocol clients, which need --base-url.
_NEED_SITE = tuple(entry.key for entry in _ROWS if not entry.preset)


def _entry(name: str) -> ProviderEntry:
    """The registry row of a --provider value (argparse has checked it is one)."""
    entry = find(name)
    if entry is None:  # pragma: no cover - argparse's choices come from the same table
        raise ValueError(f"unknown --provider {name}; choose from {', '.join(PROVIDERS)}")
    return entry


def _listed(names: Sequence[str]) -> str:
    """``"a, b and c"``.

    >>> _listed(["a"]), _listed(["a", "b", "c"])
    ('a', 'a, b and c')
    """
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _command(commands, name: str, help: str, description: str, epilog: str
             ) -> argparse.ArgumentParser:  # noqa: A002 - argparse's own word
    parser = commands.add_parser(name, help=help, description=description, epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    _debug_option(parser, argparse.SUPPRESS)  # after the command too; it keeps the global one
    return parser


def _debug_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--debug", action="store_true", default=default,
                        help="on failure, show the traceback; log what the client does")


def parse_timeout(text: str) -> Union[float, Tuple[float, float]]:
    """``--timeout``: ``SECONDS`` for connecting and for each read alike, or
    ``CONNECT,READ``.

    >>> parse_timeout("10"), parse_timeout("10,60")
    (10.0, (10.0, 60.0))
    >>> parse_timeout("10/60")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: invalid timeout '10/60': use SECONDS or CONNECT,READ, e.g. 10 or 10,60
    """
    parts = text.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(parts) not in (1, 2) or len(values) != len(parts) or not all(
            v > 0 and math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(
            f"invalid timeout {text!r}: use SECONDS or CONNECT,READ, e.g. 10 or 10,60")
    return values[0] if len(values) == 1 else (values[0], values[1])


def site_url(text: str) -> str:
    """``--base-url`` and a site's URL: an address without a scheme is taken as ``http://``.

    >>> site_url("localhost:8080"), site_url("https://site.example/chat/")
    ('http://localhost:8080', 'https://site.example/chat/')
    """
    text = text.strip()
    if text and "://" not in text and not text.startswith("/"):
        return "http://" + text
    return text


def retry_count(text: str) -> int:
    """``--retries``: a whole number, 0 or more.

    >>> retry_count("0")
    0
    >>> retry_count("-1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: invalid retry count '-1': use a whole number, 0 or more (0: no retries)
    """
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"invalid retry count {text!r}: use a whole number, 0 or more (0: no retries)")
    return value


def _connection_options(parser) -> None:
    parser.add_argument("--proxy", metavar="URL", help="proxy for all requests, e.g. http://host:3128")
    parser.add_argument("--timeout", metavar="SECONDS", type=parse_timeout,
                        help="SECONDS for connecting and for each read alike, or CONNECT,READ, "
                             "e.g. 10,60 (the default): 10 s to connect, 60 s between reads")


def _client_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("site and connection")
    group.add_argument("--provider", choices=PROVIDERS,
                       help=f"which site or plugin protocol (default: {PRESETS[0].key}; with "
                            f"--base-url, the plugin detected on the page); {_listed(_NEED_SITE)} "
                            "need --base-url")
    group.add_argument("--base-url", metavar="URL", type=site_url,
                       help="the site's address, or the page that shows its chatbot, e.g. "
                            "http://127.0.0.1:8080 for the stand-in (http:// when left out)")
    group.add_argument("--page", metavar="PATH",
                       help="the page that shows the chatbot (default: the home page)")
    _connection_options(group)
    group.add_argument("--retries", metavar="N", type=retry_count,
                       help="retries of transient failures before any text (default 2; 0: none)")
    group.add_argument("--system", metavar="TEXT", help="a system message sent with the question")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs).

    >>> build_parser().parse_args(["ask", "Hi", "--provider", "chatgptt"]).provider
    'chatgptt'
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="Chat with the free AI Engine and AI Power chatbots of WordPress sites.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _debug_option(parser, False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    ask = _command(
        commands, "ask", help="ask one question and stream the answer",
        description="Ask one question and stream the answer to stdout as it arrives.",
        epilog=f'examples:\n  {PROG} ask "What is WordPress?"\n  echo "Hi" | {PROG} ask '
               "--provider chatgptt --no-stream\n")
    ask.add_argument("question", nargs="?", help="the question (read from stdin when omitted)")
    ask.add_argument("--no-stream", action="store_true", help="print the whole answer at the end")
    _client_options(ask)

    chat = _command(
        commands, "chat", help="an interactive conversation (history kept)",
        description="An interactive conversation in the terminal. The history is sent with "
                    "each turn. Commands: /help lists them, /reset starts over, /exit (or Ctrl-D) "
                    "quits. Ctrl-C while a reply arrives cancels that reply and keeps the "
                    "conversation; Ctrl-C at the prompt ends it.",
        epilog=f"example:\n  {PROG} chat --provider chatgptt\n")
    _client_options(chat)

    demo = _command(
        commands, "demo", help="ask every protocol through the built-in local stand-in (offline)",
        description="Start built-in stand-in sites on free local ports and ask them through the "
                    "real client code over loopback: AI Engine (Chatgpt4Online), legacy AI Power "
                    "(ChatGptt) and the same ChatGptt code on a site upgraded to AI Power 2.3+. "
                    "No internet needed.",
        epilog=f'example:\n  {PROG} demo "What can you do?"\n')
    demo.add_argument("question", nargs="?", default="Hello! What can you do?",
                      help="the question to ask (default: a greeting)")
    demo.add_argument("--delay", type=float, default=DEMO_DELAY, metavar="S",
                      help=f"seconds between streamed words (default {DEMO_DELAY}, slow enough "
                           "to watch the answer stream)")

    detect = _command(
        commands, "detect", help="say which chatbot plugin a page runs",
        description="Fetch a page and say whether it runs an AI Engine or AI Power chatbot, "
                    "and how to use it from Python. Exit 0 when supported, 1 when not.",
        epilog=f"example:\n  {PROG} detect https://chatgptt.me/\n")
    detect.add_argument("url", type=site_url, help="the page that shows the chatbot")
    _connection_options(detect)

    check = _command(
        commands, "check", help="health table: reachable, plugin, nonce, first-text latency",
        description="Check sites step by step (page, plugin, nonce, a first answer) and print "
                    "a table with a diagnosis for each failure. Both presets by default. "
                    "Exit 0 when every site is healthy, 1 otherwise.",
        epilog=f"examples:\n  {PROG} check\n  {PROG} check --provider chatgptt\n"
               f"  {PROG} check https://site.example/chat/\n"
               f"  {PROG} check --provider chatgptt --base-url http://127.0.0.1:8080\n")
    check.add_argument("url", nargs="?", metavar="URL", type=site_url,
                       help="check this site, or the page that shows its chatbot (as detect takes it)")
    check.add_argument("--provider", choices=PROVIDERS,
                       help="check one preset (default: both); with a URL or --base-url, the "
                            "protocol to use there (default: detected from the page)")
    check.add_argument("--base-url", metavar="URL", type=site_url,
                       help="check this site (the same as giving URL)")
    check.add_argument("--page", metavar="PATH", help="the page that shows the chatbot")
    _connection_options(check)

    serve = _command(
        commands, "serve", help="run the stand-in site in the foreground",
        description="Run the built-in stand-in WordPress site (both plugins) until Ctrl-C.",
        epilog=f"example:\n  {PROG} serve --port 8080 &\n  {PROG} ask --base-url "
               "http://127.0.0.1:8080 Hi\n")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080,
                       help="port (default 8080; 0 picks a free one)")
    serve.add_argument("--delay", type=float, default=0.05, metavar="S",
                       help="seconds between streamed words (default 0.05)")
    serve.add_argument("--latency", type=float, default=0.0, metavar="S",
                       help="seconds added to every request (default 0)")
    serve.add_argument("--framing", choices=["chunked", "close"], default="chunked",
                       help="chunked, or close-delimited streams (default chunked)")
    serve.add_argument("--ai-power-json", action="store_true",
                       help="AI Power answers JSON instead of streaming")
    serve.add_argument("--plugins", default="ai-engine,ai-power", metavar="LIST",
                       help="the chatbots the site runs, comma-separated: ai-engine, ai-power "
                            "(legacy 1.8-2.2), aipkit (2.3+), each optionally @release (e.g. "
                            "ai-engine@1.9,aipkit@2.3); several releases of one plugin start "
                            "one site each, on the next ports (default ai-engine,ai-power)")
    serve.add_argument("--ai-power-version", default="1.9.8", metavar="V",
                       help="AI Power's version; 2.3 or later makes ai-power the 2.3+ plugin "
                            "(default 1.9.8)")

    from .server import AUTO, DEFAULT_PORT, DEFAULT_THREADS, PRESET_MODELS

    api = _command(
        commands, "api", help="serve an OpenAI-compatible HTTP endpoint (/v1/chat/completions)",
        description="Serve OpenAI's /v1/chat/completions and /v1/models over the providers, so "
                    "any OpenAI client (the openai package, LangChain, chat UIs) can use them. "
                    f"Models: {', '.join(PRESET_MODELS)}, {AUTO} (failover) and each --site. Needs "
                    "pip install 'chatgpt-providers[server]'. The first line printed is the "
                    "address; one line per request goes to stderr. Ctrl-C stops it.",
        epilog=f"examples:\n  {PROG} api\n  {PROG} api --port 0 --base-url http://127.0.0.1:8080\n"
               f"  {PROG} api --host 0.0.0.0 --api-key \"$KEY\" --site https://blog.example/chat/\n"
               "then: OpenAI(base_url=\"http://127.0.0.1:1337/v1\", api_key=\"unused\")\n")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=DEFAULT_PORT,
                     help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    api.add_argument("--provider", action="append", choices=[*PRESET_MODELS, AUTO],
                     help="a model to serve (repeatable; default: all of them)")
    api.add_argument("--site", action="append", default=[], metavar="[NAME=]URL",
                     help="also serve the chatbot on this page as a model named NAME or its host "
                          "(repeatable; its plugin is detected on first use)")
    api.add_argument("--base-url", metavar="URL", type=site_url,
                     help="point the presets at this address, e.g. the stand-in (chatgpt-providers serve)")
    api.add_argument("--api-key", metavar="KEY",
                     help="require 'Authorization: Bearer KEY' (default: $CHATGPT_PROVIDERS_API_KEY)")
    api.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                     help="let web pages from ORIGIN call it (repeatable; '*' for any; default none)")
    api.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                     help=f"requests answered at once (default {DEFAULT_THREADS}; a stream holds "
                          "one until it ends)")
    _connection_options(api)
    api.add_argument("--retries", metavar="N", type=retry_count,
                     help="retries of transient failures before any text (default 2; 0: none)")
    api.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                     help="stderr log level (default info: one line per request, no message text)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code.

    >>> main(["ask", "--provider", "ai-power", "Hi"])     # no --base-url: a usage error
    2
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    command = _command_parser(parser, args.command) or parser
    if unknown:  # the command's own usage, as for any other mistake in its options
        command.error(_unrecognized(command, unknown))
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    if debug:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format=f"{PROG}: %(name)s: %(message)s")
    _tolerant(sys.stdout)
    try:
        return {"ask": _ask, "chat": _chat, "demo": _demo, "serve": _serve, "detect": _detect,
                "check": _check, "api": _api}[args.command](args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        _silence_stdout()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - every failure is one line (--debug: traceback)
        if debug:
            import traceback

            traceback.print_exc()
        return _fail(exc, debug, command, args)


def _command_parser(parser: argparse.ArgumentParser, name: Optional[str]
                    ) -> Optional[argparse.ArgumentParser]:
    """The parser of the subcommand ``name`` (its usage is the one a mistake shows)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    return None


def _unrecognized(parser: argparse.ArgumentParser, unknown: List[str]) -> str:
    """argparse's "unrecognized arguments", with the closest option of the command."""
    import difflib

    options = [option for action in parser._actions for option in action.option_strings]
    hints = []
    for word in unknown:
        close = difflib.get_close_matches(word.split("=", 1)[0], options, n=1) \
            if word.startswith("--") else []
        hints.append(f"{word} (did you mean {close[0]}?)" if close else word)
    return f"unrecognized arguments: {' '.join(hints)}"


def usage_error(parser: argparse.ArgumentParser, message: str) -> int:
    """Report a usage error as argparse does (the command's usage, then
    ``PROG COMMAND: error: ...``) without exiting; returns :data:`EXIT_USAGE`."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _fail(exc: Exception, debug: bool, command: argparse.ArgumentParser,
          args: argparse.Namespace) -> int:
    """Report ``exc`` on stderr (one line; usage errors with the command's usage) and return
    the exit code."""
    if isinstance(exc, errors.ProviderError):
        return _report(exc, args)
    if isinstance(exc, CommandError):
        if exc.code == EXIT_USAGE:
            return usage_error(command, str(exc))
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.code
    if isinstance(exc, ValueError):
        return usage_error(command, cli_advice(str(exc)))
    hint = "" if debug else " (run with --debug for the traceback)"
    print(f"{PROG}: unexpected error: {type(exc).__name__}: {_one_line(str(exc))}{hint}",
          file=sys.stderr)
    return EXIT_SITE


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


#: Python-API advice in messages from the library, and what to say on the command line.
_ADVICE: List[Tuple[re.Pattern[str], str]] = [(re.compile(pattern), replacement)
                                             for pattern, replacement in (
    (r"raise the read timeout with timeout=\(connect, read\)",
     "allow more time between reads with --timeout CONNECT,READ (e.g. --timeout 10,120)"),
    (r"raise timeout=\(connect, read\)",
     "allow more time to connect with --timeout CONNECT,READ (e.g. --timeout 30,60)"),
    (r"timeout=\(connect, read\)", "--timeout CONNECT,READ"),
    (r"\bproxy=/proxies=", "--proxy URL"),
    (r"\bproxies=", "--proxy URL"),
    (r"\bproxy=", "--proxy URL"),
    (r"pass verify= a CA bundle path", "set REQUESTS_CA_BUNDLE to a CA bundle path"),
    (r"\bverify=", "REQUESTS_CA_BUNDLE"),
    (r"check base_url and page=, the path", "check --base-url and --page PATH, the path"),
    (r"pass base_url='https://site\.example'", "pass --base-url https://site.example"),
    (r"\bbase_url=", "--base-url"),
    (r"\bbase_url must", "--base-url must"),
    (r"Pass page= a page that shows the chatbot, or rest_url=",
     "Pass --page PATH, a page that shows the chatbot"),
    (r"(?i)pass page= ", "pass --page PATH, "),
    (r"\bpage=", "--page PATH"),
    (r"\bretries=", "--retries N"),
    (r"use connect\(url\)", "leave out --provider to detect it"),
    (r"check base_url\b", "check --base-url and --page"),
    (r"check the address and your network or proxy",
     "check --base-url and your network or --proxy"),
    (r"pass the address of a page that shows", "pass --page PATH, a page that shows"),
    (r"\((?:raise )?(max_\w+)=[^)]*\)", r"(only the Python API can raise \1)"),
)]


def cli_advice(message: str) -> str:
    """``message`` with the Python API's advice put as the command line's.

    >>> cli_advice("pass base_url= with the site's address, or use proxy=")
    "pass --base-url with the site's address, or use --proxy URL"
    >>> cli_advice("slow; raise the read timeout with timeout=(connect, read)")
    'slow; allow more time between reads with --timeout CONNECT,READ (e.g. --timeout 10,120)'
    """
    for pattern, replacement in _ADVICE:
        message = pattern.sub(replacement, message)
    return message


def exit_code(exc: errors.ProviderError) -> int:
    """The exit code for a provider error.

    >>> exit_code(errors.RejectedError("no")), exit_code(errors.TimeoutError("slow"))
    (4, 3)
    """
    if isinstance(exc, (errors.NetworkError, errors.StreamInterruptedError)):
        return EXIT_NETWORK
    if isinstance(exc, (errors.RejectedError, errors.BlockedError, errors.RateLimitError,
                        errors.AuthenticationError)):
        return EXIT_REFUSED
    return EXIT_SITE


def _report(exc: errors.ProviderError, args: Optional[argparse.Namespace] = None) -> int:
    where = f" ({exc.provider})" if exc.provider else ""
    message = cli_advice(str(exc))
    if args is not None:
        message = _advice_for(message, exc, args)
    print(f"{PROG}: {type(exc).__name__}{where}: {_one_line(message)}", file=sys.stderr)
    return exit_code(exc)


def _advice_for(message: str, exc: errors.ProviderError, args: argparse.Namespace) -> str:
    """``message`` with advice about the options this command line was given."""
    base_url, page = getattr(args, "base_url", None), getattr(args, "page", None)
    if base_url and isinstance(exc, errors.NetworkError) and not isinstance(
            exc, errors.TimeoutError):
        message = message.replace("check your connection and try again",
                                  f"check --base-url {base_url} (is the site running there?) "
                                  "and your connection")
    if page:  # the advice to pass --page, when it was passed: say that it was
        message = re.sub(r"(?i)pass --page PATH, (?:the address of )?(a page that shows [^;.]*)",
                         lambda m: f"--page {page} was given: pass --page with the path of {m[1]}",
                         message)
    return message


def _make_client(args: argparse.Namespace) -> ChatProvider:
    """The client the options name; with --base-url and no --provider, the plugin is
    detected on the page (as ``check`` does)."""
    options = {name: getattr(args, name) for name in ("proxy", "timeout", "retries")
               if getattr(args, name) is not None}
    if args.provider is None and args.base_url:
        return _detected_client(args.base_url, args.page, options)
    entry = _entry(args.provider or PRESETS[0].key)
    if not entry.preset and not args.base_url:
        raise ValueError(f"--provider {entry.key} needs --base-url, the site's address")
    if args.base_url:
        options["base_url"] = args.base_url
    if args.page:
        options["page"] = args.page
    return entry.client(**options)


def _detected_client(base_url: str, page: Optional[str], options: dict) -> ChatProvider:
    """A client for the chatbot detection finds at --base-url (and --page)."""
    from urllib.parse import urljoin

    from .detection import client_for, detect

    url = urljoin(base_url.rstrip("/") + "/", page) if page else base_url
    connection = {k: v for k, v in options.items() if k in ("proxy", "timeout")}
    return client_for(detect(url, **connection), **options)


def _explained(exc: errors.ProviderError, args: argparse.Namespace, client: ChatProvider
               ) -> errors.ProviderError:
    """``exc`` of an explicit --provider that found no chatbot of its plugin: when the page
    runs another plugin, an error saying which --provider speaks it."""
    if args.provider is None or not isinstance(exc, (errors.NonceError, errors.UnsupportedSiteError)):
        return exc
    from .detection import detect

    try:
        found = detect(client.page_url, **_connection_values(args))
    except (errors.ProviderError, ValueError):
        return exc
    speaker = for_generation(found.plugin) if found.plugin else None
    if speaker is None or found.plugin in client.speaks:
        return exc
    return errors.UnsupportedSiteError(
        f"{client.page_url} runs {found.name}, which --provider {args.provider} does not speak "
        f"(it speaks {' and '.join(client.speaks)}): use --provider {speaker.key}, "
        "or leave out --provider to detect it",
        provider=exc.provider, url=client.page_url,
    )


def _messages(system: Optional[str], history: List[dict], question: str) -> List[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + history + [{"role": "user", "content": question}]


def _ask(args: argparse.Namespace) -> int:
    question = args.question
    if question is None:
        question = sys.stdin.read()
    if not question.strip():
        raise ValueError("no question given: pass it as an argument or on stdin")
    with _make_client(args) as client:
        messages = _messages(args.system, [], question.strip())
        try:
            if args.no_stream:
                print(client.complete(messages))
            else:
                print_stream(client.stream(messages))
        except errors.ProviderError as exc:
            explained = _explained(exc, args, client)
            if explained is exc:
                raise
            raise explained from exc
    return EXIT_OK


def _chat(args: argparse.Namespace) -> int:
    history: List[dict] = []
    interactive = sys.stdin.isatty()
    outcomes: List[int] = []  # each turn's exit code: chat fails when every turn failed
    with _make_client(args) as client:
        if interactive:
            print(f"Chatting with {client.name} at {client.base_url}. /help lists the commands; "
                  "Ctrl-C cancels a reply, Ctrl-D quits.", file=sys.stderr)
        while True:
            try:
                line = input("you> " if interactive else "")
            except (EOFError, KeyboardInterrupt):  # Ctrl-D or Ctrl-C at the prompt: the end
                if interactive:
                    print(flush=True)  # the shell's prompt starts on a line of its own
                break
            question = line.strip()
            if not question:
                continue
            if question.startswith("//"):
                question = question[1:]
            elif re.fullmatch(r"/[A-Za-z?]+", question):
                if question.lower() in ("/exit", "/quit"):
                    break
                _chat_command(question.lower(), history)
                continue
            if interactive:
                sys.stdout.write("bot> ")
            answer, outcome = _chat_turn(client, _messages(args.system, history, question),
                                         interactive, args)
            outcomes.append(outcome)
            if answer is not None:  # a failed or cancelled turn is not added to the history
                history += [{"role": "user", "content": question},
                            {"role": "assistant", "content": answer}]
    if outcomes and all(outcome not in (EXIT_OK, EXIT_INTERRUPTED) for outcome in outcomes):
        return outcomes[-1]
    return EXIT_OK


def _chat_command(command: str, history: List[dict]) -> None:
    if command == "/reset":
        history.clear()
        print("(history cleared)", file=sys.stderr)
    elif command in ("/help", "/?"):
        print(CHAT_HELP, file=sys.stderr)
    else:
        print(f"unknown command {command}; /help lists the commands (//... sends a message "
              "that starts with /)", file=sys.stderr)


def _chat_turn(client: ChatProvider, messages: List[dict], interactive: bool,
               args: argparse.Namespace) -> Tuple[Optional[str], int]:
    """Stream one reply: the reply (None when it failed or Ctrl-C cancelled it) and the
    turn's exit code."""
    stream = client.stream(messages)
    shown: List[str] = []

    def shown_as_it_arrives():
        for text in stream:
            shown.append(text)
            yield text

    try:
        return print_stream(shown_as_it_arrives()), EXIT_OK
    except KeyboardInterrupt:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # closes the connection; the client and its nonce stay for the next turn
        if not shown and interactive:
            sys.stdout.write("\n")
        sys.stdout.flush()
        print("(reply cancelled; it is not kept in the history)", file=sys.stderr)
        return None, EXIT_INTERRUPTED
    except errors.ProviderError as exc:
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        return None, _report(_explained(exc, args, client), args)


def _demo(args: argparse.Namespace) -> int:
    from ..protocols.ai_engine import Chatgpt4Online
    from ..protocols.ai_power import ChatGptt
    from ..testing import LocalSite

    with LocalSite(delay=args.delay) as site, LocalSite(
            delay=args.delay, plugins=("ai-power",), ai_power_version="2.4.71") as upgraded:
        print(f"Built-in local stand-in sites at {site.url} (AI Engine and AI Power 1.9) and "
              f"{upgraded.url} (AI Power 2.4.71); no internet used.")
        if args.delay > 0:
            print(f"Watch each answer arrive word by word: the stand-in sends one word every "
                  f"{args.delay:g} s, and the client prints each piece the moment it arrives "
                  "(the same streaming code that talks to the real sites).")
        print(flush=True)
        for cls, where, protocol in ((Chatgpt4Online, site, "AI Engine protocol"),
                                     (ChatGptt, site, "legacy AI Power protocol"),
                                     (ChatGptt, upgraded, "the same code on a site upgraded to AI "
                                                          "Power 2.4.71: the 2.3+ protocol")):
            print(f"== {cls.__name__} ({protocol}), asked: {args.question!r}")
            with cls(base_url=where.url) as client:
                print_stream(client.stream(args.question))
            print()
        print("These answers come from the built-in local stand-ins, not from "
              "chatgpt4online.org or chatgptt.me:\nthe same client code talks to the real "
              f"sites when you leave out base_url (try: {PROG} ask \"Hi\").")
    return EXIT_OK


def _connection_values(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name) for name in ("proxy", "timeout")
            if getattr(args, name) is not None}


def _detect(args: argparse.Namespace) -> int:
    from .detection import describe, detect

    found = detect(args.url, **_connection_values(args))
    print(describe(found))
    if not found.supported:
        return EXIT_SITE
    cls = found.client_name
    print(f"use it:  from chatgpt_providers import {cls}\n"
          f"         bot = {cls}({found.base_url!r}, page={found.page!r})\n"
          f"   or:   bot = chatgpt_providers.connect({(found.base_url + found.page)!r})")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from .health import Health, check, format_table

    options = _connection_values(args)
    if args.url and args.base_url:
        raise ValueError("give the site once: as URL or as --base-url")
    base_url, page = args.base_url, args.page
    if args.url:
        from .detection import _split

        base_url, path = _split(args.url)
        page = page or path
    if base_url and not args.provider:
        from .detection import client_for, detect

        url = base_url.rstrip("/") + (page or "/")
        try:
            clients = [client_for(detect(url, **options), **options)]
        except errors.ProviderError as exc:
            from .health import _diagnose

            reachable = not isinstance(exc, errors.NetworkError)
            print(format_table([Health(base_url, "-", reachable, None, False, None,
                                       cli_advice(_diagnose(exc)))]))
            return EXIT_SITE
    else:
        entries = [_entry(args.provider)] if args.provider else list(PRESETS)
        for entry in entries:
            if not entry.preset and not base_url:
                raise ValueError(f"--provider {entry.key} needs the site: give URL or --base-url")
        extra = {"page": page} if page else {}
        if base_url:
            extra["base_url"] = base_url
        clients = [entry.client(**options, **extra) for entry in entries]
    results: List[Health] = []
    for client in clients:
        with client:
            health = check(client)
        results.append(health._replace(diagnosis=cli_advice(health.diagnosis)))
    print(format_table(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_SITE


def _serve(args: argparse.Namespace) -> int:
    from ..testing import LocalSite
    from ..testing.site import site_groups

    plugins = tuple(name.strip() for name in args.plugins.split(",") if name.strip())
    sites = []
    try:
        for number, group in enumerate(site_groups(plugins)):
            sites.append(LocalSite(host=args.host, port=args.port + number if args.port else 0,
                                   delay=args.delay, latency=args.latency, framing=args.framing,
                                   ai_power_stream=not args.ai_power_json, plugins=group,
                                   ai_power_version=args.ai_power_version))
    except ValueError as exc:
        raise CommandError(f"--plugins: {exc}", EXIT_USAGE) from exc
    try:
        for site in sites:
            site.start()
    except OSError as exc:
        for site in sites:
            site.stop()
        reason = exc.strerror or str(exc)
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {reason}; pick another "
                           "--port (0 picks a free one) or stop what uses it", EXIT_NETWORK) from exc
    for site in sites:
        print(f"Stand-in WordPress site ({', '.join(site.plugin_specs) or 'no chatbot'}) at {site.url}")
    print(f"  try: {PROG} ask --base-url {sites[0].url} \"Hi\"   (finds the plugin itself)\n"
          "Ctrl-C stops it.", flush=True)
    try:
        sites[0].serve_forever()  # the others serve from their own threads
    except KeyboardInterrupt:
        pass
    finally:
        for site in sites:
            site.stop()
    return EXIT_OK


def _api(args: argparse.Namespace) -> int:
    import logging
    import os

    from .server import API_KEY_VARIABLE, INSTALL_HINT, APIServer, create_app, is_loopback

    args.api_key = args.api_key or os.environ.get(API_KEY_VARIABLE) or None
    options = {name: getattr(args, name) for name in ("proxy", "timeout", "retries")
               if getattr(args, name) is not None}
    app = create_app(args.provider, sites=args.site, base_url=args.base_url, api_key=args.api_key,
                     cors=args.cors, pool_size=args.threads, **options)
    if not args.api_key and not is_loopback(args.host):
        print(f"{PROG}: warning: serving on {args.host} without --api-key: anyone who can reach "
              "it can use it; pass --api-key KEY (clients send it as their api_key)", file=sys.stderr)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    for name, level in (("chatgpt_providers", args.log_level.upper()), ("waitress", "WARNING")):
        logging.getLogger(name).addHandler(handler)
        logging.getLogger(name).setLevel(level)
    try:
        server = APIServer(app, args.host, args.port, threads=args.threads)
    except ModuleNotFoundError as exc:
        if exc.name != "waitress":
            raise
        print(f"{PROG}: the api command needs a WSGI server: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"{PROG}: error: cannot listen on {args.host} port {args.port}: "
              f"{exc.strerror or exc}; choose another --port or --host", file=sys.stderr)
        return EXIT_USAGE
    print(f"OpenAI-compatible API at {server.url}/v1 (models: {', '.join(app.models.ids())})\n"
          f"  try: OpenAI(base_url=\"{server.url}/v1\", api_key=\"{'KEY' if args.api_key else 'unused'}\")"
          "\nCtrl-C stops it.", flush=True)
    server.serve_forever()
    return EXIT_OK


def _tolerant(stream: TextIO) -> None:
    """Never die on a character the terminal cannot show."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="replace")
        except (ValueError, OSError):
            pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
