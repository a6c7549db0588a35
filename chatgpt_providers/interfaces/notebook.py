"""Jupyter helpers: stream a reply into one live-updating Markdown output.

Imported only when used; IPython is used only when it is already running (a notebook).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, Iterator, List, Optional

from ..core.results import Answer

__all__ = ["display_stream", "display_reply", "print_stream", "StreamedAnswer", "in_notebook"]


class StreamedAnswer(Answer):
    """The reply :func:`display_stream` returns: already on screen, so Jupyter does not show
    it a second time when it ends a cell (``print`` it, or ``display(Markdown(answer))``,
    to show it again). Everywhere else it is a plain ``str``.

    >>> StreamedAnswer("Hi").upper()
    'HI'
    """

    __slots__ = ()

    def _ipython_display_(self) -> None:
        pass


def in_notebook() -> Optional[Any]:
    """The running IPython kernel shell, or None outside a notebook (terminal IPython
    included: it cannot update an output in place).

    >>> in_notebook() is None     # plain Python
    True
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return shell


def print_stream(chunks: Iterator[str]) -> str:
    """Print text as it arrives and return it all; end on a new line even when the stream
    fails, so an error message starts on a line of its own.

    >>> print_stream(iter(["Hel", "lo"]))
    Hello
    'Hello'
    """
    parts: List[str] = []
    try:
        for text in chunks:
            parts.append(text)
            sys.stdout.write(text)
            sys.stdout.flush()
    finally:
        if parts and not parts[-1].endswith("\n"):
            sys.stdout.write("\n")
            sys.stdout.flush()
    return "".join(parts)


def display_stream(chunks: Iterator[str], *, interval: float = 0.1) -> StreamedAnswer:
    """Show text from ``chunks`` as it arrives: one Markdown output updated in place in a
    notebook (at most every ``interval`` seconds, and once at the end), printed elsewhere.
    Returns the whole text. An error is raised after what arrived was shown. The output also
    holds the text as ``text/plain``, what text-only frontends, ``nbconvert --to markdown``
    and renderers without Markdown show.

    >>> display_stream(iter(["Hel", "lo"]))
    Hello
    'Hello'
    """
    if in_notebook() is None:
        return StreamedAnswer(print_stream(chunks))
    parts: List[str] = []

    from IPython.display import display

    handle = display(_bundle(""), raw=True, display_id=True)
    shown = time.monotonic()
    try:
        for text in chunks:
            parts.append(text)
            now = time.monotonic()
            if now - shown >= interval:
                handle.update(_bundle("".join(parts)), raw=True)
                shown = now
    finally:
        handle.update(_bundle("".join(parts)), raw=True)
    return StreamedAnswer("".join(parts))


def display_reply(client: Any, messages: Any, **options: Any) -> Answer:
    """``client.display_stream(messages)``: stream ``client``'s reply into one live-updating
    Markdown output in Jupyter (printed as it arrives elsewhere); returns the whole reply.
    ``options`` are the client's ``stream`` options.

    >>> from chatgpt_providers import ChatGptt
    >>> from chatgpt_providers.testing import LocalSite
    >>> with LocalSite() as site:
    ...     answer = ChatGptt(base_url=site.url).display_stream("Tell me a joke")
    Echo: Tell me a joke
    >>> answer
    'Echo: Tell me a joke'
    """
    options = client._call_options("display_stream", options)
    return display_stream(client.stream(messages, **options))


def _bundle(text: str) -> Dict[str, str]:
    """The output's forms: Markdown to render, and the same text for text-only frontends."""
    return {"text/markdown": text, "text/plain": text}
