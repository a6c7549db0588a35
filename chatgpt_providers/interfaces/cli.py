"""The ``chatgpt-providers`` command (also ``python -m chatgpt_providers``).

Exit codes: 0 success, 1 the site failed (server error, odd answer, no nonce),
2 usage error, 3 network problem (unreachable, timeout, connection cut),
4 the site refused (message rejected, blocked, rate limited, nonce refused), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Dict, List, Optional, Sequence, TextIO

from .. import __version__, errors
from ..core.provider import ChatProvider
from .notebook import print_stream

__all__ = ["main", "EXIT_OK", "EXIT_SITE", "EXIT_USAGE", "EXIT_NETWORK", "EXIT_REFUSED"]

EXIT_OK, EXIT_SITE, EXIT_USAGE, EXIT_NETWORK, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

PROG = "chatgpt-providers"

EXAMPLES = f"""
examples:
  {PROG} demo                                   both providers against the built-in stand-in
  {PROG} ask "What is WordPress?"               ask chatgpt4online.org
  {PROG} ask --provider chatgptt "Hi"           ask chatgptt.me
  echo "Hi" | {PROG} ask --base-url http://127.0.0.1:8080
  {PROG} chat --system "Answer in French."      a conversation in the terminal
  {PROG} serve --port 8080                      run the stand-in for --base-url tests
  {PROG} detect https://site.example/chat/      which chatbot a page runs
  {PROG} check                                  health of both preset sites
"""


def _providers() -> Dict[str, Callable[..., ChatProvider]]:
    from ..protocols.ai_engine import AIEngine, Chatgpt4Online
    from ..protocols.ai_power import AIPower, ChatGptt

    return {"chatgpt4online": Chatgpt4Online, "chatgptt": ChatGptt,
            "ai-engine": AIEngine, "ai-power": AIPower}


def _command(commands, name: str, help: str, description: str, epilog: str
             ) -> argparse.ArgumentParser:  # noqa: A002 - argparse's own word
    return commands.add_parser(name, help=help, description=description, epilog=epilog,
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def _connection_options(parser) -> None:
    parser.add_argument("--proxy", metavar="URL", help="proxy for all requests, e.g. http://host:3128")
    parser.add_argument("--timeout", metavar="S", type=float,
                        help="seconds to wait for the connection and between reads (default 10/60)")


def _client_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("site and connection")
    group.add_argument("--provider", default="chatgpt4online",
                       choices=["chatgpt4online", "chatgptt", "ai-engine", "ai-power"],
                       help="which site or plugin protocol (default: chatgpt4online); "
                            "ai-engine and ai-power need --base-url")
    group.add_argument("--base-url", metavar="URL",
                       help="the site's address, e.g. http://127.0.0.1:8080 for the stand-in")
    group.add_argument("--page", metavar="PATH",
                       help="the page that shows the chatbot (default: the home page)")
    _connection_options(group)
    group.add_argument("--retries", metavar="N", type=int,
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
                    "each turn. Commands: /reset starts over, /exit (or Ctrl-D) quits.",
        epilog=f"example:\n  {PROG} chat --provider chatgptt\n")
    _client_options(chat)

    demo = _command(
        commands, "demo", help="ask both providers through the built-in local stand-in (offline)",
        description="Start the built-in stand-in site on a free local port and ask both "
                    "providers through the real client code over loopback. No internet needed.",
        epilog=f'example:\n  {PROG} demo "What can you do?"\n')
    demo.add_argument("question", nargs="?", default="Hello! What can you do?",
                      help="the question to ask (default: a greeting)")
    demo.add_argument("--delay", type=float, default=0.03, metavar="S",
                      help="seconds between streamed words (default 0.03)")

    detect = _command(
        commands, "detect", help="say which chatbot plugin a page runs",
        description="Fetch a page and say whether it runs an AI Engine or AI Power chatbot, "
                    "and how to use it from Python. Exit 0 when supported, 1 when not.",
        epilog=f"example:\n  {PROG} detect https://chatgptt.me/\n")
    detect.add_argument("url", help="the page that shows the chatbot")
    _connection_options(detect)

    check = _command(
        commands, "check", help="health table: reachable, plugin, nonce, first-text latency",
        description="Check sites step by step (page, plugin, nonce, a first answer) and print "
                    "a table with a diagnosis for each failure. Both presets by default. "
                    "Exit 0 when every site is healthy, 1 otherwise.",
        epilog=f"examples:\n  {PROG} check\n  {PROG} check --provider chatgptt\n"
               f"  {PROG} check --base-url http://127.0.0.1:8080\n")
    check.add_argument("--provider", choices=["chatgpt4online", "chatgptt"],
                       help="check one preset (default: both)")
    check.add_argument("--base-url", metavar="URL",
                       help="check this site (its plugin is detected from the page)")
    check.add_argument("--page", metavar="PATH", help="the page that shows the chatbot")
    _connection_options(check)

    serve = _command(
        commands, "serve", help="run the stand-in site in the foreground",
        description="Run the built-in stand-in WordPress site (both plugins) until Ctrl-C.",
        epilog=f"example:\n  {PROG} serve --port 8080 &\n  {PROG} ask --provider chatgptt "
               "--base-url http://127.0.0.1:8080 Hi\n")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    serve.add_argument("--delay", type=float, default=0.05, metavar="S",
                       help="seconds between streamed words (default 0.05)")
    serve.add_argument("--latency", type=float, default=0.0, metavar="S",
                       help="seconds added to every request (default 0)")
    serve.add_argument("--framing", choices=["chunked", "close"], default="chunked",
                       help="chunked, or close-delimited streams (default chunked)")
    serve.add_argument("--ai-power-json", action="store_true",
                       help="AI Power answers JSON instead of streaming")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code.

    >>> main(["ask", "--provider", "ai-power", "Hi"])     # no --base-url: a usage error
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _tolerant(sys.stdout)
    try:
        return {"ask": _ask, "chat": _chat, "demo": _demo, "serve": _serve, "detect": _detect,
                "check": _check}[args.command](args)
    except errors.ProviderError as exc:
        return _report(exc)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED


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


def _report(exc: errors.ProviderError) -> int:
    where = f" ({exc.provider})" if exc.provider else ""
    print(f"{PROG}: {type(exc).__name__}{where}: {exc}", file=sys.stderr)
    return exit_code(exc)


def _make_client(args: argparse.Namespace) -> ChatProvider:
    cls = _providers()[args.provider]
    if args.provider in ("ai-engine", "ai-power") and not args.base_url:
        raise ValueError(f"--provider {args.provider} needs --base-url, the site's address")
    options = {}
    for name in ("base_url", "proxy", "timeout", "retries"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.page:
        options["page"] = args.page
    return cls(**options)


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
        if args.no_stream:
            print(client.complete(messages))
        else:
            print_stream(client.stream(messages))
    return EXIT_OK


def _chat(args: argparse.Namespace) -> int:
    history: List[dict] = []
    interactive = sys.stdin.isatty()
    with _make_client(args) as client:
        if interactive:
            print(f"Chatting with {client.name} at {client.base_url}. /reset starts over, "
                  "/exit quits.", file=sys.stderr)
        while True:
            try:
                line = input("you> " if interactive else "")
            except EOFError:
                break
            question = line.strip()
            if not question:
                continue
            if question in ("/exit", "/quit"):
                break
            if question == "/reset":
                history.clear()
                print("(history cleared)", file=sys.stderr)
                continue
            if interactive:
                sys.stdout.write("bot> ")
            try:
                answer = print_stream(client.stream(_messages(args.system, history, question)))
            except errors.ProviderError as exc:
                _report(exc)
                continue  # the failed turn is not added to the history
            history += [{"role": "user", "content": question},
                        {"role": "assistant", "content": answer}]
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from ..protocols.ai_engine import Chatgpt4Online
    from ..protocols.ai_power import ChatGptt
    from ..testing import LocalSite

    with LocalSite(delay=args.delay) as site:
        print(f"Built-in local stand-in site running at {site.url} (no internet used).\n")
        for cls in (Chatgpt4Online, ChatGptt):
            print(f"== {cls.__name__} ({cls.plugin} protocol), asked: {args.question!r}")
            with cls(base_url=site.url) as client:
                print_stream(client.stream(args.question))
            print()
        print(f"These answers come from the built-in local stand-in at {site.url}, not from "
              "chatgpt4online.org or chatgptt.me:\nthe same client code talks to the real "
              f"sites when you leave out base_url (try: {PROG} ask \"Hi\").")
    return EXIT_OK


def _connection_values(args: argparse.Namespace) -> dict:
    return {name: getattr(args, name) for name in ("proxy", "timeout")
            if getattr(args, name) is not None}


def _detect(args: argparse.Namespace) -> int:
    from .detection import AI_ENGINE, describe, detect

    found = detect(args.url, **_connection_values(args))
    print(describe(found))
    if not found.supported:
        return EXIT_SITE
    cls = "AIEngine" if found.plugin == AI_ENGINE else "AIPower"
    print(f"use it:  from chatgpt_providers import {cls}\n"
          f"         bot = {cls}({found.base_url!r}, page={found.page!r})\n"
          f"   or:   bot = chatgpt_providers.connect({(found.base_url + found.page)!r})")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from .health import check, format_table

    options = _connection_values(args)
    if args.base_url:
        from .detection import client_for, detect

        url = args.base_url.rstrip("/") + (args.page or "/")
        try:
            clients = [client_for(detect(url, **options), **options)]
        except errors.ProviderError as exc:
            from .health import Health, _diagnose

            reachable = not isinstance(exc, errors.NetworkError)
            print(format_table([Health(args.base_url, "-", reachable, None, False, None,
                                       _diagnose(exc))]))
            return EXIT_SITE
    else:
        names = [args.provider] if args.provider else ["chatgpt4online", "chatgptt"]
        extra = {"page": args.page} if args.page else {}
        clients = [_providers()[name](**options, **extra) for name in names]
    results = []
    for client in clients:
        with client:
            results.append(check(client))
    print(format_table(results))
    return EXIT_OK if all(r.ok for r in results) else EXIT_SITE


def _serve(args: argparse.Namespace) -> int:
    from ..testing import LocalSite

    site = LocalSite(host=args.host, port=args.port, delay=args.delay, latency=args.latency,
                     framing=args.framing, ai_power_stream=not args.ai_power_json)
    site.start()
    print(f"Stand-in WordPress site (AI Engine + AI Power) at {site.url}\n"
          f"  try: {PROG} ask --provider chatgptt --base-url {site.url} \"Hi\"\n"
          "Ctrl-C stops it.", flush=True)
    try:
        site.serve_forever()
    except KeyboardInterrupt:
        pass
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
